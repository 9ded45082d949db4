package remote

// CallError is callError, for the tests.
var CallError = callError
