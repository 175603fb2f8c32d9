# Unit tests of the root module: a plan against a mocked azurerm provider
# (the real provider's schema, no Azure). Run with `terraform test` in infra/.

mock_provider "azurerm" {
  override_during = plan

  mock_data "azurerm_client_config" {
    defaults = {
      tenant_id       = "11111111-1111-1111-1111-111111111111"
      object_id       = "22222222-2222-2222-2222-222222222222"
      subscription_id = "00000000-0000-0000-0000-000000000001"
    }
  }
  mock_data "azurerm_resource_group" {
    defaults = {
      id = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-existing"
    }
  }
  mock_resource "azurerm_resource_group" {
    defaults = {
      id = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-vigil"
    }
  }
  mock_resource "azurerm_user_assigned_identity" {
    defaults = {
      id           = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-vigil/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-vigil"
      principal_id = "33333333-3333-3333-3333-333333333333"
      client_id    = "44444444-4444-4444-4444-444444444444"
    }
  }
  mock_resource "azurerm_storage_account" {
    defaults = {
      id                    = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-vigil/providers/Microsoft.Storage/storageAccounts/stvigil"
      primary_blob_endpoint = "https://stvigil.blob.core.windows.net/"
    }
  }
  mock_resource "azurerm_servicebus_namespace" {
    defaults = {
      id = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-vigil/providers/Microsoft.ServiceBus/namespaces/sb-vigil"
    }
  }
  mock_resource "azurerm_cosmosdb_account" {
    defaults = {
      id       = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-vigil/providers/Microsoft.DocumentDB/databaseAccounts/cosmos-vigil"
      endpoint = "https://cosmos-vigil.documents.azure.com:443/"
    }
  }
  mock_resource "azurerm_key_vault" {
    defaults = {
      id = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-vigil/providers/Microsoft.KeyVault/vaults/kv-vigil"
    }
  }
  mock_resource "azurerm_key_vault_secret" {
    defaults = {
      versionless_id = "https://kv-vigil.vault.azure.net/secrets/generated"
    }
  }
  mock_resource "azurerm_application_insights" {
    defaults = {
      id                = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-vigil/providers/Microsoft.Insights/components/appi-vigil"
      connection_string = "InstrumentationKey=00000000-0000-0000-0000-00000000000a;IngestionEndpoint=https://westeurope-0.in.applicationinsights.azure.com/"
    }
  }
  mock_resource "azurerm_function_app_flex_consumption" {
    defaults = {
      default_hostname = "func-vigil.azurewebsites.net"
      identity = {
        principal_id = "55555555-5555-5555-5555-555555555555"
        tenant_id    = "11111111-1111-1111-1111-111111111111"
      }
    }
  }
}

# Each queue, a distinct id, so that scopes can be told apart.
override_resource {
  override_during = plan
  target          = azurerm_servicebus_queue.vigil["intake"]
  values          = { id = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-vigil/providers/Microsoft.ServiceBus/namespaces/sb-vigil/queues/intake" }
}
override_resource {
  override_during = plan
  target          = azurerm_servicebus_queue.vigil["notify"]
  values          = { id = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-vigil/providers/Microsoft.ServiceBus/namespaces/sb-vigil/queues/notify" }
}
override_resource {
  override_during = plan
  target          = azurerm_servicebus_queue.vigil["escalations"]
  values          = { id = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-vigil/providers/Microsoft.ServiceBus/namespaces/sb-vigil/queues/escalations" }
}
override_resource {
  override_during = plan
  target          = azurerm_servicebus_queue.vigil["status"]
  values          = { id = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-vigil/providers/Microsoft.ServiceBus/namespaces/sb-vigil/queues/status" }
}
override_resource {
  override_during = plan
  target          = azurerm_servicebus_queue.vigil["poison"]
  values          = { id = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-vigil/providers/Microsoft.ServiceBus/namespaces/sb-vigil/queues/poison" }
}

variables {
  subscription_id = "00000000-0000-0000-0000-000000000001"
  location        = "westeurope"
  responder_login = {
    client_id = "66666666-6666-6666-6666-666666666666"
  }
}

run "local_auth_is_off_everywhere" {
  command = plan

  assert {
    condition     = azurerm_servicebus_namespace.vigil.local_auth_enabled == false
    error_message = "Service Bus must refuse SAS keys (local_auth_enabled = false)."
  }
  assert {
    condition     = azurerm_cosmosdb_account.vigil.local_authentication_enabled == false
    error_message = "Cosmos DB must refuse account keys (local_authentication_enabled = false)."
  }
  assert {
    condition     = azurerm_cosmosdb_account.vigil.access_key_metadata_writes_enabled == false
    error_message = "Cosmos DB must refuse key-based metadata writes."
  }
  assert {
    condition     = azurerm_storage_account.app.shared_access_key_enabled == false && azurerm_storage_account.app.default_to_oauth_authentication
    error_message = "The storage account must refuse shared keys and default to Entra ID."
  }
  assert {
    condition     = azurerm_application_insights.vigil.local_authentication_enabled == false
    error_message = "Application Insights must require Entra ID for ingestion."
  }
  assert {
    condition     = azurerm_key_vault.vigil.rbac_authorization_enabled
    error_message = "Key Vault must use RBAC, not access policies."
  }
  assert {
    condition     = azurerm_function_app_flex_consumption.vigil.webdeploy_publish_basic_authentication_enabled == false
    error_message = "Publishing with basic (profile) credentials must be off."
  }
  assert {
    condition     = azurerm_function_app_flex_consumption.vigil.storage_authentication_type == "UserAssignedIdentity"
    error_message = "The deployment storage must be reached with the app's identity."
  }
}

run "https_only_and_tls_1_2" {
  command = plan

  assert {
    condition     = azurerm_function_app_flex_consumption.vigil.https_only
    error_message = "The function app must be HTTPS only."
  }
  assert {
    condition     = azurerm_function_app_flex_consumption.vigil.site_config[0].minimum_tls_version == "1.2" && azurerm_function_app_flex_consumption.vigil.site_config[0].scm_minimum_tls_version == "1.2"
    error_message = "The function app and its SCM site must require TLS 1.2."
  }
  assert {
    condition     = azurerm_storage_account.app.min_tls_version == "TLS1_2" && azurerm_storage_account.app.https_traffic_only_enabled
    error_message = "Storage must require HTTPS and TLS 1.2."
  }
  assert {
    condition     = azurerm_servicebus_namespace.vigil.minimum_tls_version == "1.2"
    error_message = "Service Bus must require TLS 1.2."
  }
  assert {
    condition     = azurerm_cosmosdb_account.vigil.minimal_tls_version == "Tls12"
    error_message = "Cosmos DB must require TLS 1.2."
  }
  assert {
    condition     = azurerm_function_app_flex_consumption.vigil.auth_settings_v2[0].auth_enabled && azurerm_function_app_flex_consumption.vigil.auth_settings_v2[0].require_https
    error_message = "App Service Authentication must be on: the responder API trusts the principal it injects."
  }
  assert {
    condition     = azurerm_function_app_flex_consumption.vigil.auth_settings_v2[0].active_directory_v2[0].client_id == "66666666-6666-6666-6666-666666666666"
    error_message = "Responders sign in with the given app registration."
  }
}

run "no_keys_or_connection_strings_in_app_settings" {
  command = plan

  assert {
    condition = alltrue([
      for k, v in azurerm_function_app_flex_consumption.vigil.app_settings :
      !can(regex("(?i)(accountkey|sharedaccesskey|password|instrumentationkey|sig)=", v))
    ])
    error_message = "An app setting holds a key, password or connection string."
  }
  assert {
    condition = length(setintersection(keys(azurerm_function_app_flex_consumption.vigil.app_settings), [
      "ServiceBusConnection", "CosmosDB", "APPLICATIONINSIGHTS_CONNECTION_STRING",
      "AzureWebJobsStorage", "DEPLOYMENT_STORAGE_CONNECTION_STRING",
    ])) == 0
    error_message = "Connections must be identity-based (__accountName, __fullyQualifiedNamespace, __accountEndpoint), never a connection string; AzureWebJobsStorage must be absent (the host takes even an empty value for a connection string)."
  }
  assert {
    condition = alltrue([
      for k, v in azurerm_function_app_flex_consumption.vigil.app_settings :
      !can(regex("(?i)^(DefaultEndpointsProtocol|Endpoint=sb://|AccountEndpoint=)", v)) && !can(regex("(?i)connection_?string$", k))
    ])
    error_message = "No app setting may hold a connection string, even a keyless one."
  }
  assert {
    condition     = azurerm_function_app_flex_consumption.vigil.app_settings["ServiceBusConnection__credential"] == "managedidentity" && azurerm_function_app_flex_consumption.vigil.app_settings["ServiceBusConnection__clientId"] == "44444444-4444-4444-4444-444444444444"
    error_message = "The Service Bus trigger must sign in with the user-assigned identity."
  }
  assert {
    condition     = azurerm_function_app_flex_consumption.vigil.app_settings["AzureWebJobsStorage__credential"] == "managedidentity"
    error_message = "The host's storage must be reached with the identity."
  }
  assert {
    condition     = tonumber(azurerm_function_app_flex_consumption.vigil.app_settings["FUNCTIONS_REQUEST_BODY_SIZE_LIMIT"]) <= 1048576
    error_message = "The Functions front end must refuse bodies over 1 MiB before the worker reads them."
  }
  assert {
    condition     = startswith(azurerm_function_app_flex_consumption.vigil.app_settings["VIGIL_SIGNING_KEY"], "@Microsoft.KeyVault(")
    error_message = "The signing key must be a Key Vault reference."
  }
  assert {
    condition     = azurerm_function_app_flex_consumption.vigil.app_settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == "ClientId=44444444-4444-4444-4444-444444444444;Authorization=AAD"
    error_message = "Telemetry must sign in with the identity."
  }
  assert {
    condition     = azurerm_function_app_flex_consumption.vigil.app_settings["VIGIL_PUBLIC_URL"] == "https://func-vigil${substr(sha1("00000000-0000-0000-0000-000000000001/vigil"), 0, 6)}.azurewebsites.net"
    error_message = "Links default to the function app's own host name."
  }
  assert {
    condition     = !contains(keys(azurerm_function_app_flex_consumption.vigil.app_settings), "ACS_ENDPOINT")
    error_message = "E-mail and SMS stay off unless Communication Services is configured."
  }
}

run "secrets_the_operator_names_are_key_vault_references" {
  command = plan

  variables {
    secret_settings = {
      TEAMS_ONCALL_WEBHOOK = "teams-oncall-webhook"
    }
    communication_services = {
      id           = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-comms/providers/Microsoft.Communication/communicationServices/acs-vigil"
      endpoint     = "https://acs-vigil.europe.communication.azure.com/"
      email_sender = "DoNotReply@alerts.example.com"
    }
  }

  assert {
    condition     = azurerm_function_app_flex_consumption.vigil.app_settings["TEAMS_ONCALL_WEBHOOK"] == "@Microsoft.KeyVault(VaultName=${azurerm_key_vault.vigil.name};SecretName=teams-oncall-webhook)"
    error_message = "A secret setting must be a Key Vault reference to the named secret."
  }
  assert {
    condition     = azurerm_function_app_flex_consumption.vigil.app_settings["ACS_ENDPOINT"] == "https://acs-vigil.europe.communication.azure.com" && azurerm_function_app_flex_consumption.vigil.app_settings["ACS_EMAIL_SENDER"] == "DoNotReply@alerts.example.com"
    error_message = "Communication Services settings must follow the variable."
  }
  assert {
    condition     = !contains(keys(azurerm_function_app_flex_consumption.vigil.app_settings), "ACS_SMS_FROM")
    error_message = "SMS stays off without a number."
  }
  assert {
    condition     = azurerm_role_assignment.app_communication_services[0].scope == var.communication_services.id && azurerm_role_assignment.app_communication_services[0].principal_id == "33333333-3333-3333-3333-333333333333"
    error_message = "The Communication Services grant must be on that resource only, to the app's identity."
  }
}

run "each_role_is_the_narrowest_on_one_resource" {
  command = plan

  assert {
    condition     = azurerm_role_assignment.app_storage_blob_owner.role_definition_name == "Storage Blob Data Owner" && azurerm_role_assignment.app_storage_blob_owner.scope == azurerm_storage_account.app.id
    error_message = "The host's storage grant must be Storage Blob Data Owner on the app's storage account."
  }
  assert {
    condition     = azurerm_role_assignment.app_storage_table_contributor.role_definition_name == "Storage Table Data Contributor" && azurerm_role_assignment.app_storage_table_contributor.scope == azurerm_storage_account.app.id && azurerm_role_assignment.app_storage_table_contributor.principal_id == "33333333-3333-3333-3333-333333333333"
    error_message = "The host writes its diagnostic events to tables: the app's identity needs Storage Table Data Contributor on the app's storage account."
  }
  assert {
    condition = alltrue([
      for name, ra in azurerm_role_assignment.app_servicebus_sender :
      ra.role_definition_name == "Azure Service Bus Data Sender" && ra.scope == azurerm_servicebus_queue.vigil[name].id
    ]) && toset(keys(azurerm_role_assignment.app_servicebus_sender)) == toset(["poison"])
    error_message = "The app must only send to the queue no function triggers on (poison), scoped to it."
  }
  assert {
    condition = alltrue([
      for name, ra in azurerm_role_assignment.app_servicebus_owner :
      ra.role_definition_name == "Azure Service Bus Data Owner" && ra.scope == azurerm_servicebus_queue.vigil[name].id
    ]) && toset(keys(azurerm_role_assignment.app_servicebus_owner)) == toset(["intake", "notify", "escalations", "status"])
    error_message = "On each triggered queue (and only there) the app needs Data Owner scoped to that queue: receive, send, and the queue length for scaling."
  }
  assert {
    condition     = azurerm_cosmosdb_sql_role_assignment.app.role_definition_id == "${azurerm_cosmosdb_account.vigil.id}/sqlRoleDefinitions/00000000-0000-0000-0000-000000000002" && azurerm_cosmosdb_sql_role_assignment.app.scope == "${azurerm_cosmosdb_account.vigil.id}/dbs/vigil"
    error_message = "Cosmos DB access must be the built-in Data Contributor on Vigil's database only."
  }
  assert {
    condition     = azurerm_cosmosdb_sql_role_assignment.app.principal_id == "33333333-3333-3333-3333-333333333333"
    error_message = "Cosmos DB access is for the app's user-assigned identity."
  }
  assert {
    condition     = azurerm_role_assignment.app_key_vault_secrets_user.role_definition_name == "Key Vault Secrets User" && azurerm_role_assignment.app_key_vault_secrets_user.scope == azurerm_key_vault.vigil.id && azurerm_role_assignment.app_key_vault_secrets_user.principal_id == "55555555-5555-5555-5555-555555555555"
    error_message = "Only the identity resolving Key Vault references (system-assigned) may read secrets, on Vigil's vault."
  }
  assert {
    condition     = azurerm_role_assignment.app_monitoring_publisher.role_definition_name == "Monitoring Metrics Publisher" && azurerm_role_assignment.app_monitoring_publisher.scope == azurerm_application_insights.vigil.id
    error_message = "Telemetry grant must be Monitoring Metrics Publisher on the Application Insights resource."
  }
  assert {
    condition     = azurerm_role_assignment.deployer_secrets_officer.role_definition_name == "Key Vault Secrets Officer" && azurerm_role_assignment.deployer_secrets_officer.scope == azurerm_key_vault.vigil.id && azurerm_role_assignment.deployer_secrets_officer.principal_id == "22222222-2222-2222-2222-222222222222"
    error_message = "Whoever runs Terraform writes secrets in Vigil's vault, and nowhere else."
  }
  assert {
    condition = alltrue([
      for ra in concat(
        [azurerm_role_assignment.app_storage_blob_owner, azurerm_role_assignment.app_storage_table_contributor, azurerm_role_assignment.app_key_vault_secrets_user, azurerm_role_assignment.app_monitoring_publisher, azurerm_role_assignment.deployer_secrets_officer],
        values(azurerm_role_assignment.app_servicebus_sender), values(azurerm_role_assignment.app_servicebus_owner),
      ) : !can(regex("^/subscriptions/[^/]+(/resourceGroups/[^/]+)?/?$", ra.scope)) && !contains(["Owner", "Contributor"], ra.role_definition_name)
    ])
    error_message = "No grant may be on a whole subscription or resource group, or be Owner or Contributor."
  }
  assert {
    condition     = length(azurerm_role_assignment.app_communication_services) == 0
    error_message = "No Communication Services grant unless it is configured."
  }
}

run "queues_match_the_app" {
  command = plan

  assert {
    condition     = toset(keys(azurerm_servicebus_queue.vigil)) == toset(["intake", "notify", "escalations", "status", "poison"])
    error_message = "The queues must be those the functions bind to and send to."
  }
  assert {
    condition = alltrue([
      for q in azurerm_servicebus_queue.vigil :
      q.requires_duplicate_detection && q.duplicate_detection_history_time_window == "PT10M" && q.lock_duration == "PT1M" && q.max_delivery_count == 10 && q.dead_lettering_on_message_expiration
    ])
    error_message = "Every queue: duplicate detection over 10 minutes, a 1-minute lock, 10 deliveries, dead-lettering on expiry."
  }
  assert {
    condition     = azurerm_servicebus_namespace.vigil.sku == "Standard"
    error_message = "Service Bus Standard (duplicate detection and scheduled messages, paid per operation)."
  }
}

run "cosmos_is_serverless_with_the_stores_containers" {
  command = plan

  assert {
    condition     = contains([for c in azurerm_cosmosdb_account.vigil.capabilities : c.name], "EnableServerless")
    error_message = "The Cosmos DB account must be serverless."
  }
  assert {
    condition = (
      azurerm_cosmosdb_sql_container.vigil["incidents"].partition_key_paths == tolist(["/id"]) &&
      azurerm_cosmosdb_sql_container.vigil["cases"].partition_key_paths == tolist(["/tenant"]) &&
      azurerm_cosmosdb_sql_container.vigil["lookups"].partition_key_paths == tolist(["/pk"])
    )
    error_message = "Partition keys must be those internal/cosmos uses (docs/cosmos.md)."
  }
  assert {
    condition     = azurerm_cosmosdb_sql_container.vigil["lookups"].default_ttl == -1 && azurerm_cosmosdb_sql_container.vigil["incidents"].default_ttl == null
    error_message = "TTL must be on (per item) for lookups only: incidents are never expired."
  }
  assert {
    condition = alltrue([
      for c in azurerm_cosmosdb_sql_container.vigil :
      contains([for p in c.indexing_policy[0].excluded_path : p.path], "/doc/*")
    ])
    error_message = "Every container must leave the domain document (/doc/*) out of its index."
  }
}

run "existing_resource_group" {
  command = plan

  variables {
    resource_group = {
      create = false
      name   = "rg-existing"
    }
  }

  assert {
    condition     = length(azurerm_resource_group.vigil) == 0
    error_message = "No resource group is created when an existing one is named."
  }
  assert {
    condition     = output.resource_group_name == "rg-existing" && azurerm_servicebus_namespace.vigil.resource_group_name == "rg-existing"
    error_message = "Everything goes into the existing group."
  }
}

run "names_fit_azure_limits" {
  command = plan

  variables {
    name = "vigilprod123"
  }

  assert {
    condition     = length(azurerm_storage_account.app.name) <= 24 && can(regex("^[a-z0-9]+$", azurerm_storage_account.app.name))
    error_message = "Storage account names are 3-24 lower-case letters and digits."
  }
  assert {
    condition     = length(azurerm_key_vault.vigil.name) <= 24
    error_message = "Key Vault names are at most 24 characters."
  }
  assert {
    condition     = length(azurerm_cosmosdb_account.vigil.name) <= 44 && length(azurerm_servicebus_namespace.vigil.name) <= 50
    error_message = "Cosmos DB and Service Bus names must fit."
  }
}

# allowed_applications restricts which client applications' tokens App
# Service Authentication accepts: the browser sign-in and Azure Monitor's
# secure webhook must stay accepted whatever the operator lists.
run "allowed_applications_keep_the_browser_and_azure_monitor" {
  command = plan

  variables {
    responder_login = {
      client_id            = "66666666-6666-6666-6666-666666666666"
      allowed_applications = ["04b07795-8ddb-461a-bbee-02f9e1bf7b46"]
    }
    alert_webhook = {
      secure = {
        object_id      = "77777777-7777-7777-7777-777777777777"
        identifier_uri = "api://vigil-alerts"
      }
    }
  }

  assert {
    condition = toset(azurerm_function_app_flex_consumption.vigil.auth_settings_v2[0].active_directory_v2[0].allowed_applications) == toset([
      "66666666-6666-6666-6666-666666666666", "461e8683-5575-4561-ac7f-899cc907d62a", "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
    ])
    error_message = "The app's own client id and Azure Monitor's action groups must be added to the operator's list."
  }
}

run "no_allowed_applications_accepts_any" {
  command = plan

  assert {
    condition     = length(coalesce(azurerm_function_app_flex_consumption.vigil.auth_settings_v2[0].active_directory_v2[0].allowed_applications, [])) == 0
    error_message = "With no list, no application is singled out (the audience check still applies)."
  }
}

# The contract with the app registration vigil deploy keeps (internal/deploy,
# appreg.go): v2.0 access tokens (requestedAccessTokenVersion 2) are issued by
# the tenant's v2.0 endpoint, with the client id or the identifier URI
# api://<client id> as audience; no client secret (ID tokens come back from
# the browser sign-in's callback), and requests without a sign-in still reach
# the app, which answers them itself.
run "sign_in_matches_the_app_registration_contract" {
  command = plan

  assert {
    condition     = azurerm_function_app_flex_consumption.vigil.auth_settings_v2[0].active_directory_v2[0].tenant_auth_endpoint == "https://login.microsoftonline.com/11111111-1111-1111-1111-111111111111/v2.0"
    error_message = "The issuer must be the deploying tenant's v2.0 endpoint, matching the registration's v2 access tokens."
  }
  assert {
    condition = toset(azurerm_function_app_flex_consumption.vigil.auth_settings_v2[0].active_directory_v2[0].allowed_audiences) == toset([
      "66666666-6666-6666-6666-666666666666", "api://66666666-6666-6666-6666-666666666666",
    ])
    error_message = "Tokens for the client id or its identifier URI api://<client id> must be accepted, and no other audience."
  }
  assert {
    condition     = azurerm_function_app_flex_consumption.vigil.auth_settings_v2[0].active_directory_v2[0].client_secret_setting_name == null && !azurerm_function_app_flex_consumption.vigil.auth_settings_v2[0].require_authentication && azurerm_function_app_flex_consumption.vigil.auth_settings_v2[0].unauthenticated_action == "AllowAnonymous"
    error_message = "No client secret, and unauthenticated requests reach the app (intake keys, case tokens, signed links)."
  }
}
