// Command go-client is a gRPC client that resolves its target through etcd's own Go naming
// resolver (go.etcd.io/etcd/clientv3/naming/resolver) with round_robin, as Go users of the
// registry do. It reads commands from stdin, one per line:
//
//	call N   make N sequential grpc.health.v1.Health/Check calls and print one JSON line:
//	         {"calls":N,"peers":{"127.0.0.1:40001":5,...},"errors":["..."]}
//	run MS   the same, calling for MS milliseconds
//
// and exits at end of input.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/clientv3"
	etcdresolver "go.etcd.io/etcd/clientv3/naming/resolver"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
)

type batch struct {
	Calls  int            `json:"calls"`
	Peers  map[string]int `json:"peers"`
	Errors []string       `json:"errors"`
}

func main() {
	endpoints := flag.String("etcd", "http://127.0.0.1:2379", "comma-separated etcd client URLs")
	target := flag.String("target", "etcd:///services/api/", "gRPC target; keep the trailing slash")
	timeout := flag.Duration("timeout", 2*time.Second, "deadline of one call")
	authority := flag.String("authority", "", "`:authority` to send (default: grpc-go's, the target path)")
	flag.Parse()

	cli, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(*endpoints, ","), DialTimeout: 5 * time.Second})
	if err != nil {
		log.Fatalf("etcd client: %v", err)
	}
	defer cli.Close()
	builder, err := etcdresolver.NewBuilder(cli)
	if err != nil {
		log.Fatalf("resolver: %v", err)
	}
	options := []grpc.DialOption{
		grpc.WithResolvers(builder),
		grpc.WithInsecure(),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`),
	}
	if *authority != "" {
		options = append(options, grpc.WithAuthority(*authority))
	}
	conn, err := grpc.Dial(*target, options...)
	if err != nil {
		log.Fatalf("dial %s: %v", *target, err)
	}
	defer conn.Close()
	health := healthpb.NewHealthClient(conn)

	out := json.NewEncoder(os.Stdout)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		fields := strings.Fields(in.Text())
		if len(fields) != 2 || (fields[0] != "call" && fields[0] != "run") {
			log.Printf("unknown command %q", in.Text())
			continue
		}
		n, err := strconv.Atoi(fields[1])
		if err != nil {
			log.Printf("bad number %q", fields[1])
			continue
		}
		more := func(i int) bool { return i < n }
		if fields[0] == "run" {
			until := time.Now().Add(time.Duration(n) * time.Millisecond)
			more = func(int) bool { return time.Now().Before(until) }
		}
		result := batch{Peers: map[string]int{}, Errors: []string{}}
		for i := 0; more(i); i++ {
			result.Calls++
			var p peer.Peer
			ctx, cancel := context.WithTimeout(context.Background(), *timeout)
			_, err := health.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&p))
			cancel()
			if err != nil {
				result.Errors = append(result.Errors, err.Error())
				continue
			}
			result.Peers[p.Addr.String()]++
		}
		if err := out.Encode(result); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
