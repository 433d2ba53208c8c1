// Command etcd is the stock etcd server, built from go.etcd.io/etcd/server/v3 at the version pinned in
// ../versions.env. It exists because that module's own go.mod has relative replace directives, which
// `go install ...@version` refuses; as a dependency of this wrapper module they are ignored.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
