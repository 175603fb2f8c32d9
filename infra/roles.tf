# Least privilege: each grant is the narrowest built-in role that does the
# job, scoped to the one resource (or queue, or database) it is for.

# The Functions host keeps its leases and keys in blobs, and reads the
# deployment package from the container.
resource "azurerm_role_assignment" "app_storage_blob_owner" {
  scope                = azurerm_storage_account.app.id
  role_definition_name = "Storage Blob Data Owner"
  principal_id         = azurerm_user_assigned_identity.app.principal_id
  principal_type       = "ServicePrincipal"
}

# The host writes its diagnostic events to Table storage; without this role
# they are lost (and the host logs a failure on every write).
resource "azurerm_role_assignment" "app_storage_table_contributor" {
  scope                = azurerm_storage_account.app.id
  role_definition_name = "Storage Table Data Contributor"
  principal_id         = azurerm_user_assigned_identity.app.principal_id
  principal_type       = "ServicePrincipal"
}

# The app sends to the queues no function triggers on (parked messages).
resource "azurerm_role_assignment" "app_servicebus_sender" {
  for_each = { for name, q in local.queues : name => q if !q.trigger }

  scope                = azurerm_servicebus_queue.vigil[each.key].id
  role_definition_name = "Azure Service Bus Data Sender"
  principal_id         = azurerm_user_assigned_identity.app.principal_id
  principal_type       = "ServicePrincipal"
}

# On the queues a function triggers on, the app sends, receives, and reads the
# queue's length: the Functions scale controller asks for runtime properties,
# which needs Manage on the entity (Data Receiver alone runs the functions but
# cannot scale them out). Data Owner, scoped to that one queue.
resource "azurerm_role_assignment" "app_servicebus_owner" {
  for_each = { for name, q in local.queues : name => q if q.trigger }

  scope                = azurerm_servicebus_queue.vigil[each.key].id
  role_definition_name = "Azure Service Bus Data Owner"
  principal_id         = azurerm_user_assigned_identity.app.principal_id
  principal_type       = "ServicePrincipal"
}

# Cosmos DB data-plane RBAC, on Vigil's database only. The built-in Data
# Contributor reads and writes items; it cannot create or delete containers
# (Terraform owns those).
resource "azurerm_cosmosdb_sql_role_assignment" "app" {
  resource_group_name = local.resource_group_name
  account_name        = azurerm_cosmosdb_account.vigil.name
  role_definition_id  = "${azurerm_cosmosdb_account.vigil.id}/sqlRoleDefinitions/00000000-0000-0000-0000-000000000002"
  principal_id        = azurerm_user_assigned_identity.app.principal_id
  scope               = "${azurerm_cosmosdb_account.vigil.id}/dbs/${azurerm_cosmosdb_sql_database.vigil.name}"
}

# Key Vault references in app settings are resolved with the app's
# system-assigned identity (see functionapp.tf), which may read secrets and
# nothing else.
resource "azurerm_role_assignment" "app_key_vault_secrets_user" {
  scope                = azurerm_key_vault.vigil.id
  role_definition_name = "Key Vault Secrets User"
  principal_id         = azurerm_function_app_flex_consumption.vigil.identity[0].principal_id
  principal_type       = "ServicePrincipal"
}

# Telemetry is written with Entra ID (the resource refuses the bare key).
resource "azurerm_role_assignment" "app_monitoring_publisher" {
  scope                = azurerm_application_insights.vigil.id
  role_definition_name = "Monitoring Metrics Publisher"
  principal_id         = azurerm_user_assigned_identity.app.principal_id
  principal_type       = "ServicePrincipal"
}

# E-mail and SMS through Azure Communication Services, when configured.
resource "azurerm_role_assignment" "app_communication_services" {
  count = var.communication_services == null ? 0 : 1

  scope                = var.communication_services.id
  role_definition_name = "Contributor"
  principal_id         = azurerm_user_assigned_identity.app.principal_id
  principal_type       = "ServicePrincipal"
}

# Whoever runs Terraform writes the generated secrets, and operators put the
# third-party ones in the vault.
resource "azurerm_role_assignment" "deployer_secrets_officer" {
  scope                = azurerm_key_vault.vigil.id
  role_definition_name = "Key Vault Secrets Officer"
  principal_id         = coalesce(var.key_vault.secrets_officer_id, data.azurerm_client_config.current.object_id)
}
