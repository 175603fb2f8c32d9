# The function app's own storage: its deployment package (a blob container)
# and the host's state (timer leases, keys). Reached only with Entra ID.
resource "azurerm_storage_account" "app" {
  name                            = local.names.storage
  resource_group_name             = local.resource_group_name
  location                        = var.location
  account_tier                    = "Standard"
  account_replication_type        = "LRS"
  account_kind                    = "StorageV2"
  min_tls_version                 = "TLS1_2"
  https_traffic_only_enabled      = true
  shared_access_key_enabled       = false
  default_to_oauth_authentication = true
  allow_nested_items_to_be_public = false
  tags                            = local.tags
}

resource "azurerm_storage_container" "deployments" {
  name                  = "deployments"
  storage_account_id    = azurerm_storage_account.app.id
  container_access_type = "private"
}
