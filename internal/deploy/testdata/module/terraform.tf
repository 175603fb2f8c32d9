# A stand-in for infra/ with the same outputs, built only from Terraform's
# built-in terraform_data resource: vigil deploy's tests run a real terraform
# init, plan and apply against it without Azure.
terraform {
  required_version = ">= 1.9"
}

variable "name" {
  type = string
}

# As in infra/: vigil deploy passes the app registration's client id here.
variable "responder_login" {
  type = object({
    client_id            = string
    tenant_id            = optional(string)
    allowed_applications = optional(list(string), [])
  })
}

variable "public_url" {
  type    = string
  default = null
}

resource "terraform_data" "app" {
  input = var.name
}

resource "terraform_data" "login" {
  input = var.responder_login
}

output "function_app_name" {
  value = terraform_data.app.output
}

output "function_app_default_hostname" {
  value = "${terraform_data.app.output}.azurewebsites.net"
}

output "function_app_id" {
  value = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-vigil/providers/Microsoft.Web/sites/${terraform_data.app.output}"
}

output "action_group_id" {
  value = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-vigil/providers/Microsoft.Insights/actionGroups/ag-vigil"
}

output "public_url" {
  value = coalesce(var.public_url, "https://${terraform_data.app.output}.azurewebsites.net")
}

output "responder_login" {
  value = terraform_data.login.output
}
