# terraform -chdir=live init -backend-config=../environments/prod.backend.hcl
bucket       = "REPLACE-with-your-terraform-state-bucket"
key          = "lakejob/prod.tfstate"
region       = "eu-west-1"
encrypt      = true
use_lockfile = true
