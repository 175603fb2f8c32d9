variable "subscription_id" {
  type        = string
  description = "The Azure subscription Vigil is deployed into (a GUID)."

  validation {
    condition     = can(regex("^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$", var.subscription_id))
    error_message = "subscription_id must be a subscription GUID, such as 00000000-0000-0000-0000-000000000000."
  }
}

variable "location" {
  type        = string
  description = "The Azure region, in its short form (westeurope, eastus2, ...). It must offer Flex Consumption."

  validation {
    condition     = can(regex("^[a-z][a-z0-9]+$", var.location))
    error_message = "location must be a region's short name in lower case without spaces, such as westeurope."
  }
}

variable "name" {
  type        = string
  description = "A short name for this deployment, used in every resource's name (3 to 12 lower-case letters and digits, starting with a letter)."
  default     = "vigil"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{2,11}$", var.name))
    error_message = "name must be 3 to 12 lower-case letters and digits, starting with a letter: it goes into storage and Key Vault names, which allow nothing else."
  }
}

variable "name_suffix" {
  type        = string
  description = "Makes the globally unique names (storage, Key Vault, Cosmos DB, Service Bus, function app) unique. Null derives 6 characters from the subscription and name."
  default     = null

  validation {
    condition     = var.name_suffix == null || can(regex("^[a-z0-9]{1,6}$", var.name_suffix))
    error_message = "name_suffix must be 1 to 6 lower-case letters and digits."
  }
}

variable "resource_group" {
  type = object({
    name   = optional(string)
    create = optional(bool, true)
  })
  description = "The resource group. By default one named rg-<name> is created; set create = false and name to deploy into an existing one."
  default     = {}

  validation {
    condition     = var.resource_group.create || var.resource_group.name != null
    error_message = "resource_group.name is required when resource_group.create is false: name the existing group to deploy into."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags put on every resource."
  default     = {}
}

variable "responder_login" {
  type = object({
    client_id            = string
    tenant_id            = optional(string)
    allowed_applications = optional(list(string), [])
  })
  description = <<-EOT
    The Entra ID app registration responders sign in with (App Service Authentication).
    The responder API trusts the identity the platform injects, so this is required.
    `vigil deploy` creates or repairs the registration and passes client_id itself
    (README, "Deploy to Azure"); give client_id only to use a registration of your own.
    tenant_id defaults to the deploying tenant. allowed_applications, when set, restricts
    which client applications' tokens are accepted: the browser sign-in (this registration)
    and Azure Monitor's secure webhook are always added, so list only the others that
    call the API (the Azure CLI, 04b07795-8ddb-461a-bbee-02f9e1bf7b46, for responders'
    curl calls; a chat bot). Empty accepts a token from any application of the tenant.
  EOT

  validation {
    condition     = can(regex("^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$", var.responder_login.client_id))
    error_message = "responder_login.client_id must be the app registration's application (client) id, a GUID."
  }
}

variable "public_url" {
  type        = string
  description = "The base URL people open links on (acknowledge links, case pages). Null uses the function app's own host name; set it when a custom domain or front door is in front."
  default     = null

  validation {
    condition     = var.public_url == null || can(regex("^https://[^/]+$", var.public_url))
    error_message = "public_url must be https://host with no path and no trailing slash."
  }
}

variable "function_app" {
  type = object({
    maximum_instance_count = optional(number, 40)
    instance_memory_in_mb  = optional(number, 2048)
    always_ready_instances = optional(number, 0)
  })
  description = "Flex Consumption scale: the instance ceiling, memory per instance, and instances kept warm (0 is scale to zero; 1 removes cold starts on paging at a small standing cost)."
  default     = {}

  validation {
    condition     = var.function_app.maximum_instance_count >= 1 && var.function_app.maximum_instance_count <= 1000
    error_message = "function_app.maximum_instance_count must be between 1 and 1000."
  }
  validation {
    condition     = contains([512, 2048, 4096], var.function_app.instance_memory_in_mb)
    error_message = "function_app.instance_memory_in_mb must be 512, 2048 or 4096."
  }
  validation {
    condition     = var.function_app.always_ready_instances >= 0 && var.function_app.always_ready_instances <= var.function_app.maximum_instance_count
    error_message = "function_app.always_ready_instances must be between 0 and maximum_instance_count."
  }
}

variable "log_retention_in_days" {
  type        = number
  description = "How long Log Analytics keeps Vigil's logs."
  default     = 30

  validation {
    condition     = var.log_retention_in_days >= 30 && var.log_retention_in_days <= 730
    error_message = "log_retention_in_days must be between 30 and 730."
  }
}

variable "cosmos" {
  type = object({
    zone_redundant    = optional(bool, false)
    backup_continuous = optional(bool, true)
  })
  description = "Cosmos DB options: zone redundancy of the account's region, and continuous (point-in-time) backup rather than periodic."
  default     = {}
}

variable "key_vault" {
  type = object({
    purge_protection   = optional(bool, true)
    soft_delete_days   = optional(number, 90)
    secrets_officer_id = optional(string)
  })
  description = <<-EOT
    The Key Vault holding third-party secrets. purge_protection keeps deleted secrets
    recoverable for soft_delete_days (7 to 90). secrets_officer_id is the object id of
    who may write secrets (defaults to whoever runs Terraform).
  EOT
  default     = {}

  validation {
    condition     = var.key_vault.soft_delete_days >= 7 && var.key_vault.soft_delete_days <= 90
    error_message = "key_vault.soft_delete_days must be between 7 and 90."
  }
}

variable "secret_settings" {
  type        = map(string)
  description = <<-EOT
    App settings read from Key Vault secrets, setting name to secret name: the URLs of
    Teams or Slack webhooks that vigil.yaml names, the status page key, ... The app reads
    them through its identity; their values never pass through Terraform.
    Put the secrets in the vault with `az keyvault secret set`.
  EOT
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.secret_settings : can(regex("^[A-Za-z][A-Za-z0-9_]*$", k)) && can(regex("^[A-Za-z0-9-]{1,127}$", v))])
    error_message = "secret_settings: each key must be a setting name (letters, digits, underscores) and each value a Key Vault secret name (letters, digits, dashes)."
  }
  validation {
    condition     = length(setintersection(keys(var.secret_settings), local.reserved_settings)) == 0
    error_message = "secret_settings must not redefine a setting Vigil's module sets itself (storage, Service Bus, Cosmos DB, signing keys)."
  }
}

variable "communication_services" {
  type = object({
    id           = string
    endpoint     = string
    email_sender = optional(string)
    sms_from     = optional(string)
  })
  description = "An existing Azure Communication Services resource for e-mail and SMS pages (id, https endpoint, sender address and/or E.164 number). Null leaves e-mail and SMS off. The app is given the Contributor role on that resource only: ACS has no narrower role for sending."
  default     = null

  validation {
    condition     = var.communication_services == null || can(regex("^https://[^/]+/?$", var.communication_services.endpoint))
    error_message = "communication_services.endpoint must be the resource's https endpoint, such as https://name.communication.azure.com."
  }
  validation {
    condition     = var.communication_services == null || try(var.communication_services.email_sender != null || var.communication_services.sms_from != null, false)
    error_message = "communication_services needs email_sender or sms_from: with neither, nothing would be sent through it."
  }
  validation {
    condition     = var.communication_services == null || try(var.communication_services.sms_from == null || can(regex("^\\+[1-9][0-9]{6,14}$", var.communication_services.sms_from)), false)
    error_message = "communication_services.sms_from must be an E.164 number, such as +14255550123."
  }
}

variable "alert_webhook" {
  type = object({
    secure = optional(object({
      object_id      = string
      identifier_uri = string
      tenant_id      = optional(string)
    }))
    key_version = optional(number, 1)
  })
  description = <<-EOT
    The action group's webhook to the alert intake. It carries a function key of its own
    ("azure-monitor"), generated on the first apply; raise key_version to rotate it.
    With secure set, Azure Monitor also sends an Entra ID token for that app
    registration (its object id and identifier URI), and App Service Authentication
    checks it before the function key is.
  EOT
  default     = {}

  validation {
    condition     = var.alert_webhook.key_version >= 1 && floor(var.alert_webhook.key_version) == var.alert_webhook.key_version
    error_message = "alert_webhook.key_version must be a whole number, 1 or more."
  }
}

variable "extra_app_settings" {
  type        = map(string)
  description = "Further plain app settings (never secrets: those go in secret_settings)."
  default     = {}

  validation {
    condition     = alltrue([for v in values(var.extra_app_settings) : !can(regex("(?i)(accountkey|sharedaccesskey|password|secret|sig)=", v))])
    error_message = "extra_app_settings must not hold keys, passwords or connection strings: put the secret in Key Vault and name it in secret_settings."
  }
  validation {
    condition     = length(setintersection(keys(var.extra_app_settings), local.reserved_settings)) == 0
    error_message = "extra_app_settings must not redefine a setting Vigil's module sets itself (storage, Service Bus, Cosmos DB, signing keys)."
  }
}

variable "signing_key_version" {
  type        = number
  description = "Raise it to generate a new link-signing key (acknowledge and case links). Links signed with the old key stop working. Webhook receivers' keys are the operator's (secret_settings)."
  default     = 1

  validation {
    condition     = var.signing_key_version >= 1 && floor(var.signing_key_version) == var.signing_key_version
    error_message = "signing_key_version must be a whole number, 1 or more."
  }
}
