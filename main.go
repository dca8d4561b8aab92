// Command terraform-provider-dbfleet is the Terraform provider for dbfleet.
// Terraform starts it; run it with -debug to attach a debugger.
package main

import (
	"context"
	"flag"
	"log"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/dbfleet/terraform-provider-dbfleet/provider"
)

// version is the provider's version, set at build time with
// -ldflags "-X main.version=1.2.3".
var version = "dev"

func main() {
	var debug bool
	flag.BoolVar(&debug, "debug", false, "run the provider with support for debuggers like delve")
	flag.Parse()

	err := providerserver.Serve(context.Background(), provider.New(version), providerserver.ServeOpts{
		Address: "registry.terraform.io/dbfleet/dbfleet",
		Debug:   debug,
	})
	if err != nil {
		log.Fatal(err)
	}
}
