package firewall

// Needs is needs, for the tests.
var Needs = needs
