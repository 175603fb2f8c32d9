terraform {
  # 1.11 for write-only arguments (the generated signing keys stay out of
  # the state); terraform test with mock_provider needs 1.7.
  required_version = ">= 1.11"

  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 5.2"
    }
  }
}
