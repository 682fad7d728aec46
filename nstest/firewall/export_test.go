package firewall

// Lacks is lacks, for the tests.
var Lacks = lacks
