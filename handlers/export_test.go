package handlers

// CSVCell is csvCell, for the table of cases in handlers_test.
var CSVCell = csvCell
