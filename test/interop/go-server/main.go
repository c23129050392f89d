// Command go-server is a gRPC server standing in for one ECS task in the interop test: it
// serves grpc.health.v1.Health on 127.0.0.1 (a free port unless -port is given), prints
// {"port":N} on stdout once it listens, and exits when its stdin closes.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/ioutil"
	"log"
	"net"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func main() {
	port := flag.Int("port", 0, "port to listen on (0: a free one)")
	host := flag.String("host", "127.0.0.1", "loopback address to listen on (127.0.0.1 or ::1)")
	flag.Parse()

	lis, err := net.Listen("tcp", net.JoinHostPort(*host, fmt.Sprint(*port)))
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	server := grpc.NewServer()
	healthpb.RegisterHealthServer(server, health.NewServer())

	line, _ := json.Marshal(map[string]int{"port": lis.Addr().(*net.TCPAddr).Port})
	fmt.Println(string(line))

	// The test owns this process: when its end of stdin closes, stop.
	go func() {
		_, _ = io.Copy(ioutil.Discard, os.Stdin)
		server.Stop()
	}()
	if err := server.Serve(lis); err != nil {
		log.Fatalf("serve: %v", err)
	}
}
