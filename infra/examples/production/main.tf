# A production deployment: an existing resource group, a custom domain for
# links, one always-ready instance (no cold start on the first page of the
# night), zone-redundant Cosmos DB, e-mail and SMS through Azure
# Communication Services, Teams and status page secrets from Key Vault, and
# the alert webhook authenticated with Entra ID.
#
#   vigil deploy --infra infra/examples/production -var-file prod.tfvars \
#     --app-registration vigil-vigilprod-responders
#
# (the name is set below, where vigil deploy cannot read it, so the app
# registration's unique name is given)

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

variable "alert_webhook_app" {
  type = object({
    object_id      = string
    identifier_uri = string
  })
  description = "The app registration Azure Monitor's secure webhook gets its token for."
}

variable "communication_services_id" {
  type        = string
  description = "The resource id of the Azure Communication Services resource."
}

module "vigil" {
  source = "../.."

  subscription_id = var.subscription_id
  location        = "northeurope"
  name            = "vigilprod"

  resource_group = {
    create = false
    name   = "rg-incident-management"
  }

  tags = {
    environment = "production"
    owner       = "sre"
  }

  responder_login = var.responder_login
  public_url      = "https://status-ops.example.com"

  function_app = {
    maximum_instance_count = 100
    instance_memory_in_mb  = 2048
    always_ready_instances = 1
  }

  log_retention_in_days = 90

  cosmos = {
    zone_redundant    = true
    backup_continuous = true
  }

  key_vault = {
    purge_protection = true
    soft_delete_days = 90
  }

  # Put each secret in the vault first:
  #   az keyvault secret set --vault-name <key_vault_name> --name teams-sre-webhook --value '<url>'
  secret_settings = {
    TEAMS_SRE_WEBHOOK  = "teams-sre-webhook"
    SLACK_SRE_WEBHOOK  = "slack-sre-webhook"
    STATUSPAGE_API_KEY = "statuspage-api-key"
  }

  communication_services = {
    id           = var.communication_services_id
    endpoint     = "https://acs-vigil-prod.europe.communication.azure.com"
    email_sender = "DoNotReply@alerts.example.com"
    sms_from     = "+14255550123"
  }

  alert_webhook = {
    secure = var.alert_webhook_app
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

output "key_vault_name" {
  value = module.vigil.key_vault_name
}

output "public_url" {
  value = module.vigil.public_url
}
