// shimmy-kube: etcd and the Kubernetes components in one binary (hyperkube-style),
// built from the Kubernetes Go modules by scripts/go-build.sh kube for tests and
// `shimmy dev-cluster`. The first argument picks the component; the rest are its flags.
// A copy or symlink named after a component (kube-scheduler, kubelet, ...) runs that
// component with all its arguments as flags, as the upstream binaries do: the image of
// the chart's second scheduler has this binary at /usr/local/bin/kube-scheduler.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/server/v3/embed"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

const usage = `usage: shimmy-kube COMPONENT [FLAGS]
       COMPONENT [FLAGS]   (a copy or symlink named after the component)

components:
  etcd            single-member etcd (--data-dir, --client-url, --peer-url)
  kube-apiserver  the Kubernetes API server (its own flags)
  kube-scheduler  the Kubernetes scheduler (its own flags)
  kube-controller-manager
                  the Kubernetes controller manager (its own flags)
  kubelet         the node agent (its own flags; one process per node)
  kube-proxy      the Service proxy (its own flags; one process per node)
  version         print the Kubernetes version this binary was built from`

// kubeVersion is set at link time by scripts/go-build.sh.
var kubeVersion = "unknown"

// components are the names this binary also answers to as its own (os.Args[0]'s base name).
var components = map[string]bool{
	"etcd":                    true,
	"kube-apiserver":          true,
	"kube-scheduler":          true,
	"kube-controller-manager": true,
	"kubelet":                 true,
	"kube-proxy":              true,
}

func main() {
	var component string
	var args []string
	if name := filepath.Base(os.Args[0]); components[name] {
		component, args = name, os.Args[1:]
	} else {
		if len(os.Args) < 2 {
			fmt.Fprintln(os.Stderr, usage)
			os.Exit(2)
		}
		component, args = os.Args[1], os.Args[2:]
	}
	// The Kubernetes commands parse os.Args themselves; leave them only their own flags.
	os.Args = append([]string{component}, args...)
	switch component {
	case "etcd":
		os.Exit(runEtcd(args))
	case "kube-apiserver":
		os.Exit(execute(apiserver.NewAPIServerCommand(), args))
	case "kube-scheduler":
		os.Exit(execute(scheduler.NewSchedulerCommand(), args))
	case "kube-controller-manager":
		os.Exit(execute(controllermanager.NewControllerManagerCommand(), args))
	case "kubelet":
		os.Exit(execute(kubelet.NewKubeletCommand(context.Background()), args))
	case "kube-proxy":
		os.Exit(execute(proxy.NewProxyCommand(), args))
	case "version":
		fmt.Println(kubeVersion)
	default:
		fmt.Fprintf(os.Stderr, "unknown component %q\n%s\n", component, usage)
		os.Exit(2)
	}
}

func execute(cmd *cobra.Command, args []string) int {
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		return 1
	}
	return 0
}

func runEtcd(args []string) int {
	fs := flag.NewFlagSet("etcd", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "", "directory for etcd's data (required)")
	clientURL := fs.String("client-url", "http://127.0.0.1:2379", "URL to serve clients on")
	peerURL := fs.String("peer-url", "http://127.0.0.1:2380", "URL to serve peers on")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dataDir == "" {
		fmt.Fprintln(os.Stderr, "etcd: --data-dir is required")
		return 2
	}
	client, err := url.Parse(*clientURL)
	if err != nil {
		fmt.Fprintf(os.Stderr, "etcd: bad --client-url: %v\n", err)
		return 2
	}
	peer, err := url.Parse(*peerURL)
	if err != nil {
		fmt.Fprintf(os.Stderr, "etcd: bad --peer-url: %v\n", err)
		return 2
	}
	cfg := embed.NewConfig()
	cfg.Dir = *dataDir
	cfg.ListenClientUrls = []url.URL{*client}
	cfg.AdvertiseClientUrls = []url.URL{*client}
	cfg.ListenPeerUrls = []url.URL{*peer}
	cfg.AdvertisePeerUrls = []url.URL{*peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = "error"
	// A throwaway test store: losing it on power loss is fine, fsync latency is not.
	cfg.UnsafeNoFsync = true

	server, err := embed.StartEtcd(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "etcd: %v\n", err)
		return 1
	}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-server.Server.ReadyNotify():
		fmt.Fprintf(os.Stderr, "etcd: ready on %s\n", client)
	case err := <-server.Err():
		fmt.Fprintf(os.Stderr, "etcd: %v\n", err)
		return 1
	case <-signals:
		server.Close()
		return 0
	}
	select {
	case err := <-server.Err():
		fmt.Fprintf(os.Stderr, "etcd: %v\n", err)
		return 1
	case <-signals:
		server.Close()
		return 0
	}
}
