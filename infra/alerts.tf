# The action group Azure Monitor alert rules point at: its webhook posts to
# the alert intake in the common alert schema. Attach it to the alert rules
# of the services Vigil watches.
#
# The webhook carries a function key of its own, named "azure-monitor", with
# a value generated here on the first apply: it exists before any package is
# published (the host's default key may not, or be empty), it is the action
# group's alone (revoke it without touching other callers), and raising
# alert_webhook.key_version rotates it (the webhook's URL changes with it).
locals {
  alert_key_name = "azure-monitor"
}

# Two uuid() values draw 244 random bits from a cryptographic source; hex is
# safe in a query string. Kept in state (the action group's URL holds it
# anyway) and drawn again only when key_version changes.
resource "terraform_data" "alert_key" {
  input            = replace("${uuid()}${uuid()}", "-", "")
  triggers_replace = [var.alert_webhook.key_version]

  lifecycle {
    ignore_changes = [input]
  }
}

# A host-level function key (Microsoft.Web/sites/host/functionKeys): it opens
# every function whose authLevel is function, the alert intakes among them.
# azurerm has no resource for it, so an ARM deployment writes it.
resource "azurerm_resource_group_template_deployment" "alert_key" {
  name                = "${local.names.function_app}-alert-key"
  resource_group_name = local.resource_group_name
  deployment_mode     = "Incremental"

  template_content = jsonencode({
    "$schema"      = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
    contentVersion = "1.0.0.0"
    parameters = {
      siteName = { type = "string" }
      keyName  = { type = "string" }
      keyValue = { type = "securestring" }
    }
    resources = [{
      type       = "Microsoft.Web/sites/host/functionKeys"
      apiVersion = "2023-12-01"
      name       = "[format('{0}/default/{1}', parameters('siteName'), parameters('keyName'))]"
      properties = {
        name  = "[parameters('keyName')]"
        value = "[parameters('keyValue')]"
      }
    }]
  })
  parameters_content = jsonencode({
    siteName = { value = azurerm_function_app_flex_consumption.vigil.name }
    keyName  = { value = local.alert_key_name }
    keyValue = { value = terraform_data.alert_key.output }
  })
}

resource "azurerm_monitor_action_group" "vigil" {
  name                = local.names.action_group
  resource_group_name = local.resource_group_name
  short_name          = substr(var.name, 0, 12)
  location            = "global"

  webhook_receiver {
    name                    = "vigil-alert-intake"
    service_uri             = "https://${azurerm_function_app_flex_consumption.vigil.default_hostname}/api/alerts/azure-monitor?code=${terraform_data.alert_key.output}"
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

  # The key exists before Azure Monitor first posts with it.
  depends_on = [azurerm_resource_group_template_deployment.alert_key]
}
