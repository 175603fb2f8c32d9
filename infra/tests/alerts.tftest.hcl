# The action group's webhook holds the function key, which is read once the
# function app exists: these runs apply (against the mocked provider, never
# Azure) rather than plan. Mock values are given at apply time here, since
# values generated at plan time would change at apply.

mock_provider "azurerm" {
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
  mock_resource "azurerm_log_analytics_workspace" {
    defaults = {
      id = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-vigil/providers/Microsoft.OperationalInsights/workspaces/log-vigil"
    }
  }
  mock_resource "azurerm_service_plan" {
    defaults = {
      id = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-vigil/providers/Microsoft.Web/serverFarms/asp-vigil"
    }
  }
  mock_resource "azurerm_servicebus_queue" {
    defaults = {
      id = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-vigil/providers/Microsoft.ServiceBus/namespaces/sb-vigil/queues/q"
    }
  }
}

variables {
  subscription_id = "00000000-0000-0000-0000-000000000001"
  location        = "westeurope"
  responder_login = {
    client_id = "66666666-6666-6666-6666-666666666666"
  }
}

run "the_action_group_posts_the_common_alert_schema_to_the_intake" {
  command = apply

  assert {
    condition     = azurerm_monitor_action_group.vigil.webhook_receiver[0].use_common_alert_schema
    error_message = "The webhook must use the common alert schema."
  }
  assert {
    condition     = azurerm_monitor_action_group.vigil.webhook_receiver[0].service_uri == "https://func-vigil.azurewebsites.net/api/alerts/azure-monitor?code=${terraform_data.alert_key.output}"
    error_message = "The webhook must post to the alert intake over HTTPS with its own function key."
  }
  assert {
    condition     = can(regex("^[0-9a-f]{64}$", terraform_data.alert_key.output))
    error_message = "The function key must be generated: 64 hex digits, never empty."
  }
  assert {
    condition     = jsondecode(azurerm_resource_group_template_deployment.alert_key.template_content).resources[0].type == "Microsoft.Web/sites/host/functionKeys" && jsondecode(azurerm_resource_group_template_deployment.alert_key.parameters_content).keyName.value == "azure-monitor" && jsondecode(azurerm_resource_group_template_deployment.alert_key.parameters_content).keyValue.value == terraform_data.alert_key.output && jsondecode(azurerm_resource_group_template_deployment.alert_key.parameters_content).siteName.value == azurerm_function_app_flex_consumption.vigil.name
    error_message = "The key must be created on the function app as a named host function key, with the generated value."
  }
  assert {
    condition     = jsondecode(azurerm_resource_group_template_deployment.alert_key.template_content).parameters.keyValue.type == "securestring"
    error_message = "The key's value must be a secure parameter (not shown in the deployment's history)."
  }
  assert {
    condition     = length(azurerm_monitor_action_group.vigil.webhook_receiver[0].aad_auth) == 0 && !contains(keys(azurerm_function_app_flex_consumption.vigil.app_settings), "VIGIL_ALERT_REQUIRE_SIGNIN")
    error_message = "No secure webhook, and no token required, unless configured."
  }
}

run "secure_webhook_when_configured" {
  command = apply

  variables {
    alert_webhook = {
      secure = {
        object_id      = "77777777-7777-7777-7777-777777777777"
        identifier_uri = "api://vigil-alerts"
      }
    }
  }

  assert {
    condition     = azurerm_monitor_action_group.vigil.webhook_receiver[0].aad_auth[0].object_id == "77777777-7777-7777-7777-777777777777" && azurerm_monitor_action_group.vigil.webhook_receiver[0].aad_auth[0].tenant_id == "11111111-1111-1111-1111-111111111111"
    error_message = "The secure webhook must carry the app registration and default to the deploying tenant."
  }
  assert {
    condition     = contains(azurerm_function_app_flex_consumption.vigil.auth_settings_v2[0].active_directory_v2[0].allowed_audiences, "api://vigil-alerts")
    error_message = "App Service Authentication must accept the webhook's token audience."
  }
  assert {
    condition     = azurerm_function_app_flex_consumption.vigil.app_settings["VIGIL_ALERT_REQUIRE_SIGNIN"] == "1"
    error_message = "With the secure webhook, the alert intake must require the token, not only the function key."
  }
}


# The key stays the same from one apply to the next, and a new key_version
# draws a new one (the webhook's URL changes with it).
run "the_function_key_is_kept" {
  command = apply

  assert {
    condition     = output.alert_intake_url == run.the_action_group_posts_the_common_alert_schema_to_the_intake.alert_intake_url
    error_message = "Applying again must keep the function key."
  }
}

run "the_function_key_rotates_on_demand" {
  command = apply

  variables {
    alert_webhook = { key_version = 2 }
  }

  assert {
    condition     = output.alert_intake_url != run.the_action_group_posts_the_common_alert_schema_to_the_intake.alert_intake_url && can(regex("code=[0-9a-f]{64}$", output.alert_intake_url))
    error_message = "A new key_version must draw a new function key."
  }
}
