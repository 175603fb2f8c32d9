provider "azurerm" {
  subscription_id = var.subscription_id

  # Storage data-plane calls (the deployment container) use Entra ID: the
  # account has shared keys disabled.
  storage_use_azuread = true

  # Register only the resource providers this module uses.
  resource_provider_registrations = "none"
  resource_providers_to_register = [
    "Microsoft.DocumentDB",
    "Microsoft.Insights",
    "Microsoft.KeyVault",
    "Microsoft.ManagedIdentity",
    "Microsoft.OperationalInsights",
    "Microsoft.ServiceBus",
    "Microsoft.Storage",
    "Microsoft.Web",
  ]

  features {
    key_vault {
      # Deleting the deployment must not destroy secrets that third parties
      # issued (status page key, webhook URLs): they stay recoverable.
      purge_soft_delete_on_destroy = false
    }
    resource_group {
      prevent_deletion_if_contains_resources = true
    }
  }
}
