# The action group Azure Monitor alert rules point at: its webhook posts to
# the alert intake in the common alert schema. Attach it to the alert rules
# of the services Vigil watches.
data "azurerm_function_app_host_keys" "vigil" {
  name                = azurerm_function_app_flex_consumption.vigil.name
  resource_group_name = local.resource_group_name
}

resource "azurerm_monitor_action_group" "vigil" {
  name                = local.names.action_group
  resource_group_name = local.resource_group_name
  short_name          = substr(var.name, 0, 12)
  location            = "global"

  webhook_receiver {
    name                    = "vigil-alert-intake"
    service_uri             = "https://${azurerm_function_app_flex_consumption.vigil.default_hostname}/api/alerts/azure-monitor?code=${data.azurerm_function_app_host_keys.vigil.default_function_key}"
    use_common_alert_schema = true

    dynamic "aad_auth" {
      for_each = var.alert_webhook.secure == null ? [] : [var.alert_webhook.secure]
      content {
        object_id      = aad_auth.value.object_id
        identifier_uri = aad_auth.value.identifier_uri
        tenant_id      = coalesce(aad_auth.value.tenant_id, local.tenant_id)
      }
    }
  }

  tags = local.tags
}
