# The least Vigil needs: a subscription, a region, and the app registration
# responders sign in with. Everything else takes the module's defaults
# (scale to zero, purge-protected Key Vault, continuous Cosmos DB backup).
#
#   vigil deploy --infra infra/examples/minimal -var-file my.tfvars

variable "subscription_id" {
  type        = string
  description = "The Azure subscription to deploy into."
}

variable "responder_client_id" {
  type        = string
  description = "The application (client) id of the responders' Entra ID app registration."
}

module "vigil" {
  source = "../.."

  subscription_id = var.subscription_id
  location        = "westeurope"
  responder_login = {
    client_id = var.responder_client_id
  }
}

output "function_app_name" {
  value = module.vigil.function_app_name
}

output "function_app_default_hostname" {
  value = module.vigil.function_app_default_hostname
}

output "action_group_id" {
  value = module.vigil.action_group_id
}
