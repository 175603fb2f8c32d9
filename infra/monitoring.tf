resource "azurerm_log_analytics_workspace" "vigil" {
  name                = local.names.log_analytics
  resource_group_name = local.resource_group_name
  location            = var.location
  sku                 = "PerGB2018"
  retention_in_days   = var.log_retention_in_days
  tags                = local.tags
}

# Ingestion requires Entra ID (local authentication off): the connection
# string alone cannot write telemetry, and the app authenticates with its
# identity (APPLICATIONINSIGHTS_AUTHENTICATION_STRING).
resource "azurerm_application_insights" "vigil" {
  name                         = local.names.app_insights
  resource_group_name          = local.resource_group_name
  location                     = var.location
  workspace_id                 = azurerm_log_analytics_workspace.vigil.id
  application_type             = "other"
  local_authentication_enabled = false
  tags                         = local.tags
}
