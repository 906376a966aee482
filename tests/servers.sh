# Sourced by ./test.sh: starts PostgreSQL and mosquitto on the loopback
# address, on free ports, in a temporary folder, for the fleet tests, and
# exports where they listen (VIGIE_TEST_POSTGRES, VIGIE_TEST_MQTT).
# `stop_servers` stops them and removes the folder. A server that does not
# start is reported, and the tests that need it say SKIPPED.

servers_dir=$(mktemp -d /tmp/vigie-servers.XXXXXX)
chmod 755 "$servers_dir"
pg_data=""
pg_bin=""
mosquitto_pid=""

# A port nothing listens on, from a range the kernel does not hand out to
# outgoing connections by default (32768-60999).
free_port() {
    local p
    for _ in $(seq 1 200); do
        p=$((20000 + RANDOM % 12000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

# Runs a command as the `postgres` user when root (PostgreSQL refuses
# to run as root), as itself otherwise.
as_pg() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start_postgres() {
    local bin port
    bin=$(dirname "$(command -v initdb 2>/dev/null || ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)")
    if [ ! -x "$bin/initdb" ] || [ ! -x "$bin/pg_ctl" ]; then
        echo "PostgreSQL is not installed: its tests will say SKIPPED (apt-get install postgresql)"
        return 0
    fi
    port=$(free_port) || { echo "no free port for PostgreSQL"; return 0; }
    pg_bin=$bin
    pg_data="$servers_dir/pg"
    mkdir -p "$pg_data"
    if [ "$(id -u)" = 0 ] && ! chown postgres "$pg_data" 2>/dev/null; then
        echo "no postgres user to run PostgreSQL as (root may not): its tests will say SKIPPED"
        pg_data=""
        return 0
    fi
    if as_pg "$bin/initdb" -D "$pg_data/data" -U vigie --auth=trust -E UTF8 --no-sync >"$servers_dir/initdb.log" 2>&1 &&
        as_pg "$bin/pg_ctl" -D "$pg_data/data" -l "$pg_data/server.log" -w -t 30 \
            -o "-p $port -k $pg_data -c listen_addresses=127.0.0.1" start >/dev/null; then
        export VIGIE_TEST_POSTGRES="postgres://vigie@127.0.0.1:$port/postgres"
        echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
    else
        echo "PostgreSQL did not start: its tests will say SKIPPED"
        cat "$servers_dir/initdb.log" "$pg_data/server.log" 2>/dev/null | tail -n 20
        # A server that started too slowly for pg_ctl is stopped all the same.
        as_pg "$bin/pg_ctl" -D "$pg_data/data" -m immediate stop >/dev/null 2>&1 || true
        pg_data=""
    fi
}

start_mosquitto() {
    local bin port
    bin=$(command -v mosquitto 2>/dev/null || ls /usr/sbin/mosquitto 2>/dev/null || true)
    if [ -z "$bin" ]; then
        echo "mosquitto is not installed: the MQTT test will say SKIPPED (apt-get install mosquitto)"
        return 0
    fi
    port=$(free_port) || { echo "no free port for mosquitto"; return 0; }
    # No cap on the messages queued for a slow subscriber: by default
    # mosquitto drops QoS 1 messages past 1,000 queued, which a burst of a
    # fleet's frames reaches (the README says so to whoever runs a broker).
    printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n' \
        "$port" >"$servers_dir/mosquitto.conf"
    "$bin" -c "$servers_dir/mosquitto.conf" >"$servers_dir/mosquitto.log" 2>&1 &
    mosquitto_pid=$!
    for _ in $(seq 1 50); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            export VIGIE_TEST_MQTT="127.0.0.1:$port"
            echo "mosquitto on 127.0.0.1:$port"
            return 0
        fi
        sleep 0.1
    done
    echo "mosquitto did not start: the MQTT test will say SKIPPED"
    tail -n 20 "$servers_dir/mosquitto.log"
}

stop_servers() {
    if [ -n "$pg_data" ]; then
        as_pg "$pg_bin/pg_ctl" -D "$pg_data/data" -m immediate stop >/dev/null 2>&1 || true
        pg_data=""
    fi
    if [ -n "$mosquitto_pid" ]; then
        kill "$mosquitto_pid" 2>/dev/null || true
        wait "$mosquitto_pid" 2>/dev/null || true
        mosquitto_pid=""
    fi
    rm -rf "$servers_dir"
}
