// Package deps is the one list of external programs that clusterf and its
// tests run (deps.txt, embedded here): scripts/deps.sh installs or checks
// them for make run, make test and make bench, `clusterf doctor` reports
// the ones a running node and its features need, and this package's test
// fails when Go code or a script of the repository execs a program the
// list does not name.
package deps
