package dirsync

import "os"

// Dir fsyncs the directory dir. A close error is reported when the fsync
// itself succeeded.
func Dir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
