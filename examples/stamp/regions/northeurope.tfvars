region = "northeurope"
