# dbfleetd dev prints the endpoint and a token as DBFLEET_ENDPOINT and
# DBFLEET_TOKEN; with those exported, the provider block can stay empty.
provider "dbfleet" {
  endpoint = "http://127.0.0.1:8580"

  # Optional: how long one HTTP request may take, and how often a failed one is retried.
  request_timeout = "30s"
  max_retries     = 5
}
