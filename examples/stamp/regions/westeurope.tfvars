region = "westeurope"
