# S3 test harness: moto_server in its authenticating mode, sourced by bash tests
# (e2e scripts, unit tests via bash -c).
#
#   source tests/e2e/s3.sh
#   s3_start            # exports S3_ENDPOINT S3_BUCKET S3_REGION AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
#   "$CK_BIN" init --s3-endpoint "$S3_ENDPOINT" --s3-bucket "$S3_BUCKET" --s3-path-style ...
#   s3_py 'print(s3.get_object(Bucket=bucket, Key="k")["Body"].read())'   # independent client
#   s3_stop
#
# Moto lets the first INITIAL_NO_AUTH_ACTION_COUNT requests through unsigned; the
# harness spends them on an IAM user, its access key and an s3:* policy, then
# creates the bucket with that key. From then on every request must carry a
# valid SigV4 signature (a wrong secret gets 403 SignatureDoesNotMatch). Readiness
# is a TCP connect: an HTTP probe would use up the unsigned allowance.
# The variables are also written to $S3_HOME/env (sourceable) for programs that
# start the harness through bash -c.
#
# S3_AUTH=0 starts moto without signature checks. moto 5.2.1 verifies SigV4
# against the *decoded* path, so any key that needs percent-encoding other than
# a space (non-ASCII, '+', '=', '%') gets 403 SignatureDoesNotMatch even from
# boto3; such keys can only be exercised in this mode.

: "${CK_TMP:=$(mktemp -d /tmp/certkeep-s3.XXXXXX)}"
S3_HOME=${S3_HOME:-$CK_TMP/s3}
S3_PYTHON=${S3_PYTHON:-/root/.pyenv/shims/python}
S3_MOTO=${S3_MOTO:-/root/.pyenv/shims/moto_server}
S3_BUCKET=${S3_BUCKET:-certkeep-test}
S3_REGION=${S3_REGION:-us-east-1}
S3_LOG="$S3_HOME/moto.log"
S3_PID=""

_s3_die() { echo "s3.sh: $*" >&2; return 1; }

# A free loopback port (bound then released: a small race nobody else runs here).
_s3_free_port() {
    "$S3_PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# 0 once 127.0.0.1:$1 accepts a TCP connection (no HTTP request is sent).
_s3_port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Runs python with boto3 and, in scope: s3 (client with the harness credentials),
# bucket, endpoint; the code comes from $1.
s3_py() {
    S3_CODE="$1" "$S3_PYTHON" - <<'EOF'
import os, boto3, botocore.config
endpoint = os.environ["S3_ENDPOINT"]; bucket = os.environ["S3_BUCKET"]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name=os.environ["S3_REGION"],
                  aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
                  aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
                  config=botocore.config.Config(s3={"addressing_style": "path"},
                                                retries={"max_attempts": 1}))
exec(os.environ["S3_CODE"])
EOF
}

# IAM user + key + inline s3:* policy with the unsigned allowance, then the bucket
# with the new key. Prints "ACCESS SECRET".
_s3_provision() {
    S3_ENDPOINT="$1" "$S3_PYTHON" - <<'EOF'
import os, json, boto3
ep = os.environ["S3_ENDPOINT"]; region = os.environ["S3_REGION"]
anon = dict(endpoint_url=ep, region_name=region, aws_access_key_id="bootstrap",
            aws_secret_access_key="bootstrap")
iam = boto3.client("iam", **anon)
iam.create_user(UserName="certkeep")
k = iam.create_access_key(UserName="certkeep")["AccessKey"]
iam.put_user_policy(UserName="certkeep", PolicyName="s3-all", PolicyDocument=json.dumps(
    {"Version": "2012-10-17",
     "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
s3 = boto3.client("s3", endpoint_url=ep, region_name=region,
                  aws_access_key_id=k["AccessKeyId"], aws_secret_access_key=k["SecretAccessKey"])
s3.create_bucket(Bucket=os.environ["S3_BUCKET"])
print(k["AccessKeyId"], k["SecretAccessKey"])
EOF
}

s3_start() {
    local i keys
    [ -z "$S3_PID" ] || { _s3_die "already started (pid $S3_PID)"; return 1; }
    mkdir -p "$S3_HOME" || return 1
    S3_PORT=${S3_PORT:-$(_s3_free_port)} || return 1
    S3_ENDPOINT="http://127.0.0.1:$S3_PORT"
    : >"$S3_LOG"
    # exactly the three IAM calls of _s3_provision go through unsigned
    if [ "${S3_AUTH:-1}" = 0 ]; then
        ( unset INITIAL_NO_AUTH_ACTION_COUNT; exec "$S3_MOTO" -H 127.0.0.1 -p "$S3_PORT" ) >>"$S3_LOG" 2>&1 &
    else
        INITIAL_NO_AUTH_ACTION_COUNT=3 "$S3_MOTO" -H 127.0.0.1 -p "$S3_PORT" >>"$S3_LOG" 2>&1 &
    fi
    S3_PID=$!
    echo "$S3_PID" >"$S3_HOME/pid"
    for i in $(seq 1 200); do
        _s3_port_open "$S3_PORT" && break
        kill -0 "$S3_PID" 2>/dev/null || break
        sleep 0.05
    done
    if ! _s3_port_open "$S3_PORT"; then
        _s3_die "moto_server did not listen on $S3_ENDPOINT; log: $(tail -n 5 "$S3_LOG" | tr '\n' ' ')"
        s3_stop
        return 1
    fi
    if ! keys=$(S3_REGION=$S3_REGION S3_BUCKET=$S3_BUCKET _s3_provision "$S3_ENDPOINT" 2>"$S3_HOME/provision.err"); then
        _s3_die "provisioning moto failed: $(tail -n 1 "$S3_HOME/provision.err")"
        s3_stop
        return 1
    fi
    read -r AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY <<<"$keys"
    export S3_ENDPOINT S3_BUCKET S3_REGION S3_PORT AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
    unset AWS_SESSION_TOKEN
    {
        printf 'S3_ENDPOINT=%s\nS3_BUCKET=%s\nS3_REGION=%s\nS3_PORT=%s\nS3_PID=%s\n' \
            "$S3_ENDPOINT" "$S3_BUCKET" "$S3_REGION" "$S3_PORT" "$S3_PID"
        printf 'AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n' \
            "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"
    } >"$S3_HOME/env"
    chmod 600 "$S3_HOME/env"
}

# Stops what s3_start started (by pid, also from another shell via $S3_HOME/pid).
s3_stop() {
    local i
    if [ -z "$S3_PID" ] && [ -s "$S3_HOME/pid" ]; then
        read -r S3_PID <"$S3_HOME/pid"
    fi
    if [ -n "$S3_PID" ] && kill "$S3_PID" 2>/dev/null; then
        wait "$S3_PID" 2>/dev/null
        for i in $(seq 1 50); do kill -0 "$S3_PID" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$S3_HOME/pid"
    S3_PID=""
}
