package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/clusterf/clusterf/search"
)

// newSearchCmd is `clusterf search QUERY`: ask the running node on
// --http-addr:--http-port and print the results.
func newSearchCmd(nf *nodeFlags, stdout io.Writer) *cobra.Command {
	var limit, offset int
	var sortBy string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "search QUERY...",
		Short: "Search the whole cluster: names, paths, metadata, tags and text",
		Long: `search asks the running node at --http-addr:--http-port (its token from
--http-token or the node's data dir, as forget-node) and prints one result
a line: path, size, modification time, type and the matched snippet.

The words of QUERY must all match (in names, also as prefixes and
substrings; a typo is forgiven in longer words). Also:
  "exact phrase"  foto*  a OR b  -exclude
  name: path: ext:jpg type:image camera: lens: artist: album: title: genre:
  tag: xattr: text: size:>10MB modified:>2026-01-01 taken:2024
  duration:>3m under:/photos gps:yes
See docs/search.md.`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if nf.httpPort == 0 {
				return usageError{fmt.Errorf("search needs --http-port of the running node")}
			}
			return runSearch(nf, strings.Join(args, " "), limit, offset, sortBy, asJSON, stdout)
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "results to print (1-1000)")
	cmd.Flags().IntVar(&offset, "offset", 0, "results to skip")
	cmd.Flags().StringVar(&sortBy, "sort", "", "relevance (default), name, size or date; -name, -size, -date descending")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the API's JSON answer")
	return cmd
}

func runSearch(nf *nodeFlags, q string, limit, offset int, sortBy string, asJSON bool, stdout io.Writer) error {
	v := url.Values{"q": {q}, "limit": {strconv.Itoa(limit)}, "offset": {strconv.Itoa(offset)}}
	if sortBy != "" {
		v.Set("sort", sortBy)
	}
	u := "http://" + net.JoinHostPort(nf.httpAddr, strconv.Itoa(nf.httpPort)) + "/api/search?" + v.Encode()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	if tok := nodeToken(nf); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("search: is a node running on %s:%d? %w", nf.httpAddr, nf.httpPort, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("search: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(raw, &e) == nil && e.Error != "" {
			return fmt.Errorf("search: %s (HTTP %d)", e.Error, resp.StatusCode)
		}
		return fmt.Errorf("search: HTTP %d", resp.StatusCode)
	}
	if asJSON {
		_, err := stdout.Write(raw)
		return err
	}
	var res search.Result
	if err := json.Unmarshal(raw, &res); err != nil {
		return fmt.Errorf("search: bad answer: %w", err)
	}
	printResults(stdout, &res)
	return nil
}

func printResults(w io.Writer, res *search.Result) {
	for _, h := range res.Results {
		size := humanSize(h.Size)
		if h.IsDirectory {
			size = "dir"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s", h.Path, size, h.ModifiedAt.Local().Format("2006-01-02 15:04"), h.ContentType)
		if h.Snippet != "" && h.Snippet != h.Name && h.Snippet != h.Path {
			fmt.Fprintf(w, "\t%s", oneLine(h.Snippet, 100))
		}
		fmt.Fprintln(w)
	}
	more := ""
	if uint64(res.Offset+res.Count) < res.Total {
		more = fmt.Sprintf(" (showing %d-%d; --offset %d for more)", res.Offset+1, res.Offset+res.Count, res.Offset+res.Count)
	}
	fmt.Fprintf(w, "%d results in %.1f ms%s\n", res.Total, res.TookMs, more)
}

func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > max {
		s = string(r[:max]) + "…"
	}
	return s
}

// searchMaxText maps --search-max-text to the node's setting (0: no text).
func searchMaxText(v int64) int64 {
	if v <= 0 {
		return -1
	}
	return v
}
