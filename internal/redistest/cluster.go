package redistest

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// Cluster is a Redis Cluster of masters without replicas, each a Server.
type Cluster struct {
	Nodes []*Server
}

// StartCluster runs n redis-server nodes in cluster mode, gives each an
// equal share of the 16384 slots, joins them and waits until every node
// says the cluster is ok. Like Start, it skips the test when redis-server
// is missing (unless REQUIRE_REDIS=1), and stops the nodes when it ends.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	if n < 1 {
		t.Fatalf("redistest: a cluster of %d nodes", n)
	}
	c := &Cluster{}
	for range n {
		c.Nodes = append(c.Nodes, startServer(t, &Server{cluster: true}, false))
	}
	const slots = 16384
	for i, node := range c.Nodes {
		first, last := i*slots/n, (i+1)*slots/n-1
		if _, err := node.String("CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(first), strconv.Itoa(last)); err != nil {
			t.Fatalf("redistest: ADDSLOTSRANGE on %s: %v", node.Addr, err)
		}
	}
	for _, node := range c.Nodes[1:] {
		if _, err := c.Nodes[0].String("CLUSTER", "MEET", "127.0.0.1", strconv.Itoa(node.Port)); err != nil {
			t.Fatalf("redistest: CLUSTER MEET %s: %v", node.Addr, err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, node := range c.Nodes {
		for {
			info, err := node.String("CLUSTER", "INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") &&
				strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(n)+"\r\n") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("redistest: the cluster did not form within 30s: %v %q", err, info)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return c
}

// URL is the cluster's URL in the seed-list form, redis://h1:p1,h2:p2,...
func (c *Cluster) URL() string {
	addrs := make([]string, len(c.Nodes))
	for i, node := range c.Nodes {
		addrs[i] = node.Addr
	}
	return "redis://" + strings.Join(addrs, ",")
}
