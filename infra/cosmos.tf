locals {
  cosmos_database = "vigil"

  # internal/cosmos's containers (docs/cosmos.md). `doc` holds the domain
  # document and is never queried: excluding it from the index keeps writes
  # cheap. `lookups` has TTL on (no default expiry): ended on-call overrides
  # carry their own ttl and go away by themselves.
  cosmos_containers = {
    incidents = { partition_key = "/id", default_ttl = null }
    cases     = { partition_key = "/tenant", default_ttl = null }
    lookups   = { partition_key = "/pk", default_ttl = -1 }
  }
}

resource "azurerm_cosmosdb_account" "vigil" {
  name                = local.names.cosmos
  resource_group_name = local.resource_group_name
  location            = var.location
  offer_type          = "Standard"
  kind                = "GlobalDocumentDB"

  # Entra ID only: no account keys, and no key-based metadata writes.
  local_authentication_enabled       = false
  access_key_metadata_writes_enabled = false
  minimal_tls_version                = "Tls12"
  public_network_access_enabled      = true

  capabilities {
    name = "EnableServerless"
  }

  consistency_policy {
    consistency_level = "Session"
  }

  geo_location {
    location          = var.location
    failover_priority = 0
    zone_redundant    = var.cosmos.zone_redundant
  }

  dynamic "backup" {
    for_each = var.cosmos.backup_continuous ? [1] : []
    content {
      type = "Continuous"
      tier = "Continuous7Days"
    }
  }

  tags = local.tags
}

resource "azurerm_cosmosdb_sql_database" "vigil" {
  name                = local.cosmos_database
  resource_group_name = local.resource_group_name
  account_name        = azurerm_cosmosdb_account.vigil.name
}

resource "azurerm_cosmosdb_sql_container" "vigil" {
  for_each = local.cosmos_containers

  name                = each.key
  resource_group_name = local.resource_group_name
  account_name        = azurerm_cosmosdb_account.vigil.name
  database_name       = azurerm_cosmosdb_sql_database.vigil.name
  partition_key_paths = [each.value.partition_key]
  partition_key_kind  = "Hash"
  default_ttl         = each.value.default_ttl

  indexing_policy {
    indexing_mode = "consistent"

    included_path {
      path = "/*"
    }
    excluded_path {
      path = "/doc/*"
    }
    excluded_path {
      path = "/\"_etag\"/?"
    }
  }
}
