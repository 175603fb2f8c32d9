locals {
  # The groups kept warm when function_app.always_ready_instances > 0: the
  # whole paging path (HTTP intake, and the queue functions that open the
  # incident, page and escalate).
  always_ready_groups = ["http", "function:ProcessIntake", "function:Notify", "function:EscalateIncident"]

  # App Service Authentication accepts only these client applications once
  # the list is non-empty: the operator's, and always the app's own browser
  # sign-in and, with the secure webhook, Azure Monitor's action groups.
  azure_monitor_action_groups_app_id = "461e8683-5575-4561-ac7f-899cc907d62a"
  allowed_applications = length(var.responder_login.allowed_applications) == 0 ? [] : distinct(concat(
    [var.responder_login.client_id],
    var.alert_webhook.secure == null ? [] : [local.azure_monitor_action_groups_app_id],
    var.responder_login.allowed_applications,
  ))

  public_url = coalesce(var.public_url, "https://${local.names.function_app}.azurewebsites.net")

  # Settings Vigil's module owns; neither secret_settings nor
  # extra_app_settings may redefine them.
  # The local-only ones (VIGIL_DEV, the embedded queue's) are refused too:
  # in Azure they could only weaken sign-in.
  reserved_settings = toset(concat(keys(local.base_settings), values(local.generated_secrets), [
    "ACS_ENDPOINT", "ACS_EMAIL_SENDER", "ACS_SMS_FROM", "VIGIL_ALERT_REQUIRE_SIGNIN",
    "AzureWebJobsStorage", "DEPLOYMENT_STORAGE_CONNECTION_STRING",
    "VIGIL_DEV", "VIGIL_LOCAL_BUS_URL", "VIGIL_LOCAL_BUS_TOKEN", "VIGIL_TEST_CLOCK", "WEBSITE_AUTH_ENABLED",
  ]))

  # Identity-based connections, named the way the Functions host and the
  # Azure SDK read them: an account name or endpoint, and which identity.
  # No key, password or connection string appears here (a terraform test
  # checks it).
  base_settings = {
    # Host storage through the identity: AzureWebJobsStorage itself must be
    # absent, since the host takes any value of it, even "", for a
    # connection string. The provider writes one anyway (with an empty key,
    # hashicorp/terraform-provider-azurerm#29693), and on update a
    # DEPLOYMENT_STORAGE_CONNECTION_STRING too; `vigil deploy` removes both
    # after every apply, through Resource Manager. The provider leaves both
    # out of the state it reads, so the next plan shows no change.
    "AzureWebJobsStorage__accountName" = azurerm_storage_account.app.name
    "AzureWebJobsStorage__credential"  = "managedidentity"
    "AzureWebJobsStorage__clientId"    = azurerm_user_assigned_identity.app.client_id

    "ServiceBusConnection__fullyQualifiedNamespace" = "${azurerm_servicebus_namespace.vigil.name}.servicebus.windows.net"
    "ServiceBusConnection__credential"              = "managedidentity"
    "ServiceBusConnection__clientId"                = azurerm_user_assigned_identity.app.client_id

    "CosmosDB__accountEndpoint" = azurerm_cosmosdb_account.vigil.endpoint
    "CosmosDB__clientId"        = azurerm_user_assigned_identity.app.client_id
    "CosmosDB__databaseName"    = azurerm_cosmosdb_sql_database.vigil.name

    # Telemetry signs in with the identity (Application Insights refuses the key alone).
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING" = "ClientId=${azurerm_user_assigned_identity.app.client_id};Authorization=AAD"
    # DefaultAzureCredential (Azure Communication Services) picks this identity.
    "AZURE_CLIENT_ID" = azurerm_user_assigned_identity.app.client_id

    "VIGIL_CONFIG"     = "vigil.yaml"
    "VIGIL_PUBLIC_URL" = local.public_url

    # The Functions front end refuses a larger body with 413 before the
    # worker sees it (default 100 MiB); the largest Vigil accepts is an
    # Azure Monitor alert of 256 KiB.
    "FUNCTIONS_REQUEST_BODY_SIZE_LIMIT" = "1048576"
  }

  generated_secret_settings = {
    for secret, setting in local.generated_secrets :
    setting => "@Microsoft.KeyVault(SecretUri=${azurerm_key_vault_secret.signing[secret].versionless_id})"
  }

  operator_secret_settings = {
    for setting, secret in var.secret_settings :
    setting => "@Microsoft.KeyVault(VaultName=${azurerm_key_vault.vigil.name};SecretName=${secret})"
  }

  acs_settings = var.communication_services == null ? {} : merge(
    { "ACS_ENDPOINT" = trimsuffix(var.communication_services.endpoint, "/") },
    var.communication_services.email_sender == null ? {} : { "ACS_EMAIL_SENDER" = var.communication_services.email_sender },
    var.communication_services.sms_from == null ? {} : { "ACS_SMS_FROM" = var.communication_services.sms_from },
  )

  # With the secure webhook, the alert intake also requires the Entra ID
  # token App Service Authentication validates, not only the function key.
  alert_settings = var.alert_webhook.secure == null ? {} : { "VIGIL_ALERT_REQUIRE_SIGNIN" = "1" }

  app_settings = merge(
    var.extra_app_settings,
    local.operator_secret_settings,
    local.acs_settings,
    local.alert_settings,
    local.generated_secret_settings,
    local.base_settings,
  )
}

resource "azurerm_service_plan" "vigil" {
  name                = local.names.plan
  resource_group_name = local.resource_group_name
  location            = var.location
  os_type             = "Linux"
  sku_name            = "FC1"
  tags                = local.tags
}

resource "azurerm_function_app_flex_consumption" "vigil" {
  # Flex Consumption counts warm instances over every always_ready block
  # against the ceiling; the provider would fail the apply.
  lifecycle {
    precondition {
      condition     = length(local.always_ready_groups) * var.function_app.always_ready_instances <= var.function_app.maximum_instance_count
      error_message = "function_app.always_ready_instances is kept warm for each of ${length(local.always_ready_groups)} groups (${join(", ", local.always_ready_groups)}): ${length(local.always_ready_groups)} × always_ready_instances must not exceed maximum_instance_count."
    }
  }

  name                = local.names.function_app
  resource_group_name = local.resource_group_name
  location            = var.location
  service_plan_id     = azurerm_service_plan.vigil.id

  # The package `vigil package` builds: host.json, a folder per function and
  # the Go binary, run as a custom handler.
  runtime_name    = "custom"
  runtime_version = "1.0"

  storage_container_type            = "blobContainer"
  storage_container_endpoint        = "${azurerm_storage_account.app.primary_blob_endpoint}${azurerm_storage_container.deployments.name}"
  storage_authentication_type       = "UserAssignedIdentity"
  storage_user_assigned_identity_id = azurerm_user_assigned_identity.app.id

  maximum_instance_count = var.function_app.maximum_instance_count
  instance_memory_in_mb  = var.function_app.instance_memory_in_mb

  # Warm instances for the whole paging path: HTTP intake, then the queue
  # functions that open the incident, page, and escalate (Flex scales each
  # non-HTTP function on instances of its own).
  dynamic "always_ready" {
    for_each = var.function_app.always_ready_instances > 0 ? local.always_ready_groups : []
    content {
      name           = always_ready.value
      instance_count = var.function_app.always_ready_instances
    }
  }

  https_only                                     = true
  public_network_access_enabled                  = true
  webdeploy_publish_basic_authentication_enabled = false

  # The user-assigned identity does everything the app does. The
  # system-assigned one only resolves Key Vault references: the Flex
  # Consumption resource cannot name another identity for them.
  identity {
    type         = "SystemAssigned, UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.app.id]
  }

  app_settings = local.app_settings

  site_config {
    minimum_tls_version                    = "1.2"
    scm_minimum_tls_version                = "1.2"
    http2_enabled                          = true
    application_insights_connection_string = azurerm_application_insights.vigil.connection_string
  }

  # App Service Authentication validates Entra ID tokens and injects the
  # signed-in principal (X-MS-CLIENT-PRINCIPAL), stripping any copy a client
  # sent. Unauthenticated requests still reach the app: intake routes carry a
  # function key, customers a case token, acknowledge links their signature,
  # and the responder API answers 401 without a principal.
  auth_settings_v2 {
    auth_enabled           = true
    require_authentication = false
    unauthenticated_action = "AllowAnonymous"
    require_https          = true

    active_directory_v2 {
      client_id            = var.responder_login.client_id
      tenant_auth_endpoint = "https://login.microsoftonline.com/${coalesce(var.responder_login.tenant_id, local.tenant_id)}/v2.0"
      allowed_audiences = compact([
        var.responder_login.client_id,
        "api://${var.responder_login.client_id}",
        try(var.alert_webhook.secure.identifier_uri, null),
      ])
      allowed_applications = local.allowed_applications
    }

    login {
      token_store_enabled = false
    }
  }

  tags = local.tags

  depends_on = [azurerm_role_assignment.app_storage_blob_owner, azurerm_role_assignment.app_storage_table_contributor]
}
