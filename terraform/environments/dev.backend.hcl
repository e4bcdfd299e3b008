# terraform -chdir=live init -backend-config=../environments/dev.backend.hcl
bucket       = "REPLACE-with-your-terraform-state-bucket"
key          = "lakejob/dev.tfstate"
region       = "eu-west-1"
encrypt      = true
use_lockfile = true
