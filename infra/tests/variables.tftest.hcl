# Bad variable values are refused at plan time, naming what is wrong, before
# anything is created.

mock_provider "azurerm" {
  mock_data "azurerm_client_config" {
    defaults = {
      tenant_id = "11111111-1111-1111-1111-111111111111"
      object_id = "22222222-2222-2222-2222-222222222222"
    }
  }
}

variables {
  subscription_id = "00000000-0000-0000-0000-000000000001"
  location        = "westeurope"
  responder_login = {
    client_id = "66666666-6666-6666-6666-666666666666"
  }
}

run "subscription_id_must_be_a_guid" {
  command = plan
  variables {
    subscription_id = "my-subscription"
  }
  expect_failures = [var.subscription_id]
}

run "location_must_be_a_short_region_name" {
  command = plan
  variables {
    location = "West Europe"
  }
  expect_failures = [var.location]
}

run "name_must_fit_storage_and_key_vault_names" {
  command = plan
  variables {
    name = "Vigil-Prod"
  }
  expect_failures = [var.name]
}

run "name_must_not_be_too_long" {
  command = plan
  variables {
    name = "vigilproduction"
  }
  expect_failures = [var.name]
}

run "an_existing_resource_group_needs_its_name" {
  command = plan
  variables {
    resource_group = {
      create = false
    }
  }
  expect_failures = [var.resource_group]
}

run "responder_login_needs_a_client_id" {
  command = plan
  variables {
    responder_login = {
      client_id = "vigil-responders"
    }
  }
  expect_failures = [var.responder_login]
}

run "public_url_must_be_https_without_a_path" {
  command = plan
  variables {
    public_url = "http://vigil.example.com/"
  }
  expect_failures = [var.public_url]
}

run "instance_memory_must_be_a_flex_size" {
  command = plan
  variables {
    function_app = {
      instance_memory_in_mb = 1024
    }
  }
  expect_failures = [var.function_app]
}

run "always_ready_cannot_exceed_the_ceiling" {
  command = plan
  variables {
    function_app = {
      maximum_instance_count = 2
      always_ready_instances = 3
    }
  }
  expect_failures = [var.function_app]
}

# Each of the four warm groups counts against the ceiling: 4 × 1 > 3.
run "always_ready_counts_every_warm_group" {
  command = plan
  variables {
    function_app = {
      maximum_instance_count = 3
      always_ready_instances = 1
    }
  }
  expect_failures = [azurerm_function_app_flex_consumption.vigil]
}

run "always_ready_fits_when_every_group_fits" {
  command = plan
  variables {
    function_app = {
      maximum_instance_count = 4
      always_ready_instances = 1
    }
  }
}

run "log_retention_must_be_in_range" {
  command = plan
  variables {
    log_retention_in_days = 7
  }
  expect_failures = [var.log_retention_in_days]
}

run "key_vault_soft_delete_must_be_in_range" {
  command = plan
  variables {
    key_vault = {
      soft_delete_days = 3
    }
  }
  expect_failures = [var.key_vault]
}

run "no_secret_in_plain_app_settings" {
  command = plan
  variables {
    extra_app_settings = {
      STATUSPAGE = "Endpoint=https://x;SharedAccessKey=abc"
    }
  }
  expect_failures = [var.extra_app_settings]
}

run "plain_settings_cannot_redefine_the_modules_own" {
  command = plan
  variables {
    extra_app_settings = {
      CosmosDB__accountEndpoint = "https://elsewhere.documents.azure.com:443/"
    }
  }
  expect_failures = [var.extra_app_settings]
}

run "secret_settings_cannot_redefine_the_signing_key" {
  command = plan
  variables {
    secret_settings = {
      VIGIL_SIGNING_KEY = "my-key"
    }
  }
  expect_failures = [var.secret_settings]
}

run "secret_names_must_be_key_vault_names" {
  command = plan
  variables {
    secret_settings = {
      TEAMS_WEBHOOK = "teams_webhook"
    }
  }
  expect_failures = [var.secret_settings]
}

run "communication_services_needs_a_sender" {
  command = plan
  variables {
    communication_services = {
      id       = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Communication/communicationServices/acs"
      endpoint = "https://acs.communication.azure.com"
    }
  }
  expect_failures = [var.communication_services]
}

run "sms_number_must_be_e164" {
  command = plan
  variables {
    communication_services = {
      id       = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Communication/communicationServices/acs"
      endpoint = "https://acs.communication.azure.com"
      sms_from = "0612345678"
    }
  }
  expect_failures = [var.communication_services]
}

run "signing_key_version_must_be_a_whole_number" {
  command = plan
  variables {
    signing_key_version = 1.5
  }
  expect_failures = [var.signing_key_version]
}
