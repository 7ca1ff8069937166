variable "alpaca_secret_key" {
  type      = string
  sensitive = true
}

resource "aws_secretsmanager_secret_version" "alpaca" {
  secret_id     = aws_secretsmanager_secret.alpaca.id
  secret_string = var.alpaca_secret_key
}

data "aws_ssm_parameter" "oanda_token" {
  name = "/trading/oanda/access_token"
}
