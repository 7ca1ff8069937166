variable "region" {
  type    = string
  default = "us-east-1"
}

variable "binance_api_secret" {
  type      = string
  sensitive = true
  default   = "D9lLupy2jnGpsBVjoMTKl3Oquob3RtC6Ck8ClUU3JguvEKeHiW8NLvGbER0ebava"
}

variable "kite_access_token" {
  type      = string
  sensitive = true
}
