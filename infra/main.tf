data "azurerm_client_config" "current" {}

locals {
  suffix = coalesce(var.name_suffix, substr(sha1("${var.subscription_id}/${var.name}"), 0, 6))
  base   = "${var.name}${local.suffix}"

  names = {
    resource_group = coalesce(var.resource_group.name, "rg-${var.name}")
    identity       = "id-${var.name}"
    storage        = "st${local.base}"
    log_analytics  = "log-${var.name}"
    app_insights   = "appi-${var.name}"
    servicebus     = "sb-${local.base}"
    cosmos         = "cosmos-${local.base}"
    key_vault      = "kv-${local.base}"
    plan           = "asp-${var.name}"
    function_app   = "func-${local.base}"
    action_group   = "ag-${var.name}"
  }

  tags = merge(var.tags, { "app" = "vigil" })

  resource_group_name = var.resource_group.create ? azurerm_resource_group.vigil[0].name : data.azurerm_resource_group.existing[0].name
  resource_group_id   = var.resource_group.create ? azurerm_resource_group.vigil[0].id : data.azurerm_resource_group.existing[0].id
  tenant_id           = data.azurerm_client_config.current.tenant_id
}

resource "azurerm_resource_group" "vigil" {
  count = var.resource_group.create ? 1 : 0

  name     = local.names.resource_group
  location = var.location
  tags     = local.tags
}

data "azurerm_resource_group" "existing" {
  count = var.resource_group.create ? 0 : 1

  name = var.resource_group.name
}

# The one identity the function app runs as. Every data-plane permission below
# is granted to it, scoped to the single resource it needs.
resource "azurerm_user_assigned_identity" "app" {
  name                = local.names.identity
  resource_group_name = local.resource_group_name
  location            = var.location
  tags                = local.tags
}
