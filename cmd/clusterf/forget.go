package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/clusterf/clusterf/atrest"
	"github.com/clusterf/clusterf/node"
)

// newForgetCmd is `clusterf forget-node ID`: ask the running node on
// --http-addr:--http-port to forget a member that is gone for good.
func newForgetCmd(nf *nodeFlags, stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "forget-node NODE_ID",
		Short: "Remove a member that is gone for good, so garbage collection and compaction stop waiting for it",
		Long: `forget-node asks the running node at --http-addr:--http-port to forget a
member for good. While a member is down, no node deletes unreferenced data
or compacts metadata (the member might still hold references); forgetting
it lets them go on. Every member refuses the forgotten node from then on:
to bring that machine back, start it with an empty data dir.

The token is --http-token, else the node's <data-dir>/<node-id>/http-token.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if nf.httpPort == 0 {
				return usageError{fmt.Errorf("forget-node needs --http-port of the running node")}
			}
			return forgetNode(nf, args[0], stdout)
		},
	}
}

func forgetNode(nf *nodeFlags, id string, stdout io.Writer) error {
	body, _ := json.Marshal(map[string]string{"node_id": id})
	url := "http://" + net.JoinHostPort(nf.httpAddr, strconv.Itoa(nf.httpPort)) + "/api/forget-node"
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if tok := nodeToken(nf); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("forget-node: is a node running on %s? %w", url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(raw, &e) == nil && e.Error != "" {
			return fmt.Errorf("forget-node %s: %s (HTTP %d)", id, e.Error, resp.StatusCode)
		}
		return fmt.Errorf("forget-node %s: HTTP %d", id, resp.StatusCode)
	}
	fmt.Fprintf(stdout, "forgot %s: garbage collection and compaction no longer wait for it; to bring it back, start it with an empty data dir\n", id)
	return nil
}

// nodeToken is --http-token, else the token file of the node in
// --data-dir (its id from --node-id or the remembered .node-id).
func nodeToken(nf *nodeFlags) string {
	if nf.httpToken != "" {
		return nf.httpToken
	}
	id := nf.nodeID
	if id == "" {
		b, err := os.ReadFile(filepath.Join(nf.dataDir, ".node-id"))
		if err != nil {
			return ""
		}
		id = strings.TrimSpace(string(b))
	}
	dir := filepath.Join(nf.dataDir, id)
	b, err := os.ReadFile(filepath.Join(dir, "http-token"))
	if err != nil {
		return ""
	}
	// An encrypted node seals its token: opening it takes the passphrase.
	keys, err := atrest.Unlock(dir, []byte(nf.encKey))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	tok, err := node.OpenToken(keys, b)
	if err != nil {
		return ""
	}
	return tok
}
