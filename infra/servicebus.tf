locals {
  # Every queue the functions trigger on, send to, or park failed messages in.
  # internal/app.Entities is the same list for `vigil local`; a Go test
  # (infra_test.go) checks the two, and the functions' bindings, agree.
  #
  # lock_duration: one minute, renewed by the host while an invocation runs
  #   (host.json maxAutoLockRenewalDuration); a crashed instance's message is
  #   retried after a minute, not five.
  # max_delivery_count: ten failed invocations before a message dead-letters
  #   with its reason. The host redelivers a failed invocation at once, with
  #   no back-off, so ten go by in seconds: the app does not fail an invocation
  #   for a passing failure but schedules a copy of the message with growing
  #   pauses (5 s doubling, at most 5 min, about an hour in all; then it parks
  #   it on poison), see internal/app/retry.go. Only a message whose copy
  #   cannot be scheduled (Service Bus itself failing) spends this count.
  # duplicate_detection_window: ten minutes; every message carries a key as
  #   its MessageId, so a sender's retry is dropped rather than handled twice.
  # trigger: a function triggers on it, so the app's identity may receive
  #   from it (parked messages are sent, never received, by the app).
  queues = {
    intake = {
      trigger                    = true
      lock_duration              = "PT1M"
      max_delivery_count         = 10
      duplicate_detection_window = "PT10M"
      default_message_ttl        = "P14D"
    }
    notify = {
      trigger                    = true
      lock_duration              = "PT1M"
      max_delivery_count         = 10
      duplicate_detection_window = "PT10M"
      default_message_ttl        = "P14D"
    }
    escalations = {
      trigger                    = true
      lock_duration              = "PT1M"
      max_delivery_count         = 10
      duplicate_detection_window = "PT10M"
      default_message_ttl        = "P14D"
    }
    status = {
      trigger                    = true
      lock_duration              = "PT1M"
      max_delivery_count         = 10
      duplicate_detection_window = "PT10M"
      default_message_ttl        = "P14D"
    }
    poison = {
      trigger                    = false
      lock_duration              = "PT1M"
      max_delivery_count         = 10
      duplicate_detection_window = "PT10M"
      default_message_ttl        = "P14D"
    }
  }
}

resource "azurerm_servicebus_namespace" "vigil" {
  name                          = local.names.servicebus
  resource_group_name           = local.resource_group_name
  location                      = var.location
  sku                           = "Standard"
  local_auth_enabled            = false
  minimum_tls_version           = "1.2"
  public_network_access_enabled = true
  tags                          = local.tags
}

resource "azurerm_servicebus_queue" "vigil" {
  for_each = local.queues

  name         = each.key
  namespace_id = azurerm_servicebus_namespace.vigil.id

  lock_duration                           = each.value.lock_duration
  max_delivery_count                      = each.value.max_delivery_count
  requires_duplicate_detection            = true
  duplicate_detection_history_time_window = each.value.duplicate_detection_window
  default_message_ttl                     = each.value.default_message_ttl
  dead_lettering_on_message_expiration    = true
  partitioning_enabled                    = false
}
