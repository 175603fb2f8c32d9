output "resource_group_name" {
  description = "The resource group holding Vigil."
  value       = local.resource_group_name
}

output "function_app_name" {
  description = "The function app `vigil deploy` publishes the package to."
  value       = azurerm_function_app_flex_consumption.vigil.name
}

output "function_app_id" {
  description = "The function app's resource id; vigil deploy removes the key-based storage settings the provider writes through it."
  value       = azurerm_function_app_flex_consumption.vigil.id
}

output "function_app_default_hostname" {
  description = "The function app's host name; its SCM (deployment) host is derived from it."
  value       = azurerm_function_app_flex_consumption.vigil.default_hostname
}

output "public_url" {
  description = "The base URL of links Vigil sends (acknowledge links, case pages)."
  value       = local.public_url
}

output "action_group_id" {
  description = "Point Azure Monitor alert rules at this action group to raise incidents."
  value       = azurerm_monitor_action_group.vigil.id
}

output "alert_intake_url" {
  description = "The Azure Monitor alert intake with the action group's function key: what the action group posts to, and what a test alert can be posted to (terraform output -raw alert_intake_url)."
  value       = azurerm_monitor_action_group.vigil.webhook_receiver[0].service_uri
  sensitive   = true
}

output "key_vault_name" {
  description = "Put third-party secrets here (az keyvault secret set) and name them in secret_settings."
  value       = azurerm_key_vault.vigil.name
}

output "servicebus_namespace" {
  description = "The Service Bus namespace (queues: intake, notify, escalations, status, poison)."
  value       = azurerm_servicebus_namespace.vigil.name
}

output "cosmos_endpoint" {
  description = "The Cosmos DB account endpoint."
  value       = azurerm_cosmosdb_account.vigil.endpoint
}

output "identity_client_id" {
  description = "The client id of the app's managed identity."
  value       = azurerm_user_assigned_identity.app.client_id
}

output "responder_client_id" {
  description = "The app registration responders sign in with: get a token for the API with az account get-access-token --resource api://<this id>."
  value       = var.responder_login.client_id
}
