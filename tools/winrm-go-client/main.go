// Copyright (c) 2026, winfleet.autopilot contributors
// SPDX-License-Identifier: GPL-3.0-or-later

// winrm-go-client: a thin driver around masterzen/winrm (Debian's golang-github-masterzen-winrm-dev), a WinRM
// client the project did not write, so that tests can drive the WS-Man lab with it
// (tests/integration/test_wsman_clients.py). Built by tools/install-winrm-go.sh into .build/bin/.
//
// It reads one JSON request on stdin:
//
//	{"host": "127.0.0.1", "port": 5986, "https": true, "ca": "/path/ca.pem", "auth": "ntlm" | "basic",
//	 "user": "admin", "password": "...", "timeout_s": 10, "commands": [["hostname"], ["cmd", "/c", "echo", "hi"]]}
//
// and writes one JSON answer on stdout: {"results": [{"stdout": "...", "stderr": "...", "rc": 0, "error": ""}]}.
// The first element of a command is sent as rsp:Command, the others as rsp:Arguments elements. Each command gets
// its own shell (client.CreateShell, shell.Execute, Close), as masterzen's own Run does.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/ioutil"
	"os"
	"sync"
	"time"

	"github.com/masterzen/winrm"
)

type request struct {
	Host     string     `json:"host"`
	Port     int        `json:"port"`
	HTTPS    bool       `json:"https"`
	CA       string     `json:"ca"`
	Auth     string     `json:"auth"`
	User     string     `json:"user"`
	Password string     `json:"password"`
	Timeout  int        `json:"timeout_s"`
	Commands [][]string `json:"commands"`
}

type result struct {
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
	RC     int    `json:"rc"`
	Error  string `json:"error"`
}

func run(client *winrm.Client, argv []string) result {
	shell, err := client.CreateShell()
	if err != nil {
		return result{RC: -1, Error: err.Error()}
	}
	defer shell.Close()
	cmd, err := shell.Execute(argv[0], argv[1:]...)
	if err != nil {
		return result{RC: -1, Error: err.Error()}
	}
	var stdout, stderr bytes.Buffer
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); io.Copy(&stdout, cmd.Stdout) }()
	go func() { defer wg.Done(); io.Copy(&stderr, cmd.Stderr) }()
	cmd.Wait()
	wg.Wait()
	cmd.Close()
	res := result{Stdout: stdout.String(), Stderr: stderr.String(), RC: cmd.ExitCode()}
	if err := cmd.Stdin.Close(); err != nil && res.Error == "" {
		_ = err // closing stdin of a finished command may fail; the command's result stands
	}
	return res
}

func main() {
	var req request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fmt.Fprintln(os.Stderr, "winrm-go-client: bad request:", err)
		os.Exit(2)
	}
	var ca []byte
	if req.CA != "" {
		var err error
		if ca, err = ioutil.ReadFile(req.CA); err != nil {
			fmt.Fprintln(os.Stderr, "winrm-go-client:", err)
			os.Exit(2)
		}
	}
	timeout := time.Duration(req.Timeout) * time.Second
	endpoint := winrm.NewEndpoint(req.Host, req.Port, req.HTTPS, false, ca, nil, nil, timeout)
	params := winrm.NewParameters(fmt.Sprintf("PT%dS", req.Timeout), "en-US", 153600)
	switch req.Auth {
	case "ntlm":
		params.TransportDecorator = func() winrm.Transporter { return &winrm.ClientNTLM{} }
	case "basic":
	default:
		fmt.Fprintln(os.Stderr, "winrm-go-client: auth must be ntlm or basic")
		os.Exit(2)
	}
	client, err := winrm.NewClientWithParameters(endpoint, req.User, req.Password, params)
	out := struct {
		Results []result `json:"results"`
	}{}
	for _, argv := range req.Commands {
		if err != nil {
			out.Results = append(out.Results, result{RC: -1, Error: err.Error()})
			continue
		}
		out.Results = append(out.Results, run(client, argv))
	}
	json.NewEncoder(os.Stdout).Encode(out)
}
