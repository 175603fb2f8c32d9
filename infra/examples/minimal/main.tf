# The least Vigil needs: a subscription, a region, and the app registration
# responders sign in with. Everything else takes the module's defaults
# (scale to zero, purge-protected Key Vault, continuous Cosmos DB backup).
#
#   vigil deploy --infra infra/examples/minimal -var-file my.tfvars

variable "subscription_id" {
  type        = string
  description = "The Azure subscription to deploy into."
}

variable "responder_login" {
  type = object({
    client_id            = string
    tenant_id            = optional(string)
    allowed_applications = optional(list(string), [])
  })
  description = "The responders' Entra ID app registration; vigil deploy sets client_id to the one it manages."
}

module "vigil" {
  source = "../.."

  subscription_id = var.subscription_id
  location        = "westeurope"
  responder_login = var.responder_login
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

output "public_url" {
  value = module.vigil.public_url
}
