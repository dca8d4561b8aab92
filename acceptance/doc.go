// Package acceptance holds dbfleet's acceptance suites: terraform-plugin-testing
// tests that drive the real provider through the Terraform CLI against a real
// dbfleetd and its three dev regions of real PostgreSQL, and check the result
// by asking PostgreSQL itself.
//
// The suites run only when TF_ACC is set (`make testacc`); TestMain then
// builds dbfleetd, starts `dbfleetd dev` in a temporary directory for the
// whole run, stops it afterwards, and fails the run if dbfleetd's log holds
// the API token or any database password the tests saw.
package acceptance
