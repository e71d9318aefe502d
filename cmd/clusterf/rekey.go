package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/clusterf/clusterf/atrest"
)

// newRekeyCmd is `clusterf rekey`: change the passphrase of an encrypted
// data dir in O(1) (the master key is sealed again; no data is rewritten).
func newRekeyCmd(nf *nodeFlags, stdout io.Writer) *cobra.Command {
	var newKey, newKeyFile string
	cmd := &cobra.Command{
		Use:   "rekey --encryption-key OLD --new-encryption-key NEW",
		Short: "Change the encryption passphrase of a node's data dir (no data is rewritten)",
		Long: `rekey opens the data dir's master key with the current passphrase
(--encryption-key, --encryption-key-file or CLUSTERF_ENCRYPTION_KEY) and
seals it under the new one (--new-encryption-key, --new-encryption-key-file
or CLUSTERF_NEW_ENCRYPTION_KEY). It takes a moment whatever the size of the
data: only the key header <data-dir>/<node-id>/encryption-header changes,
atomically. The old passphrase no longer opens the dir. A running node
keeps running; its next start needs the new passphrase.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("new-encryption-key") && newKeyFile != "" {
				return usageError{fmt.Errorf("--new-encryption-key and --new-encryption-key-file: give one of them")}
			}
			if newKeyFile != "" {
				k, err := readKeyFile(newKeyFile, "--new-encryption-key-file")
				if err != nil {
					return err
				}
				newKey = k
			}
			if nf.encKey == "" || newKey == "" {
				return usageError{fmt.Errorf("rekey needs the current passphrase (--encryption-key) and the new one (--new-encryption-key)")}
			}
			dir, err := nodeDir(nf)
			if err != nil {
				return err
			}
			if enc, err := atrest.Encrypted(dir); err != nil {
				return err
			} else if !enc {
				return fmt.Errorf("rekey %s: %w", dir, atrest.ErrNotEncrypted)
			}
			if err := atrest.Rekey(dir, []byte(nf.encKey), []byte(newKey), atrest.DefaultParams); err != nil {
				return fmt.Errorf("rekey %s: %w", dir, err)
			}
			fmt.Fprintf(stdout, "passphrase changed for %s (the old one no longer opens it)\n", dir)
			return nil
		},
	}
	cmd.Flags().StringVar(&newKey, "new-encryption-key", "", "the new passphrase")
	cmd.Flags().StringVar(&newKeyFile, "new-encryption-key-file", "", "read the new passphrase from this file")
	return cmd
}

// nodeDir is <data-dir>/<node-id>, with the id from --node-id or the data
// dir's .node-id file.
func nodeDir(nf *nodeFlags) (string, error) {
	id := nf.nodeID
	if id == "" {
		b, err := os.ReadFile(filepath.Join(nf.dataDir, ".node-id"))
		if errors.Is(err, fs.ErrNotExist) {
			return "", usageError{fmt.Errorf("no node in %s (no .node-id): give --data-dir and --node-id", nf.dataDir)}
		}
		if err != nil {
			return "", err
		}
		id = strings.TrimSpace(string(b))
	}
	dir := filepath.Join(nf.dataDir, id)
	if _, err := os.Stat(dir); err != nil {
		return "", usageError{fmt.Errorf("node dir %s: %w", dir, err)}
	}
	return dir, nil
}

// readKeyFile reads a passphrase file: its content less one trailing
// newline; empty is refused.
func readKeyFile(path, flag string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", usageError{fmt.Errorf("%s: %w", flag, err)}
	}
	k := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if k == "" {
		return "", usageError{fmt.Errorf("%s %s: the file is empty", flag, path)}
	}
	return k, nil
}
