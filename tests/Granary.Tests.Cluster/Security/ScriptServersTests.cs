using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Granary.Client.Configuration;
using Granary.Server;
using Granary.Tests.Cluster.Infrastructure;
using Npgsql;
using StackExchange.Redis;

namespace Granary.Tests.Cluster.Security;

/// <summary>
/// The servers that scripts/lib/servers.sh starts (for scripts/cluster.sh and the bench scripts)
/// refuse callers without their generated password, keep it out of sight, and serve TLS that a
/// client verifying the server against the right CA accepts. The servers are started by the
/// script's own functions, with a temporary directory and free ports.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class ScriptServersTests(ScriptServersFixture servers) : IClassFixture<ScriptServersFixture>
{
    [Fact]
    public async Task Redis_answers_NOAUTH_without_the_password_and_PONG_with_it()
    {
        var port = servers.RedisPort;
        var password = servers.RedisPassword;

        Assert.StartsWith("-NOAUTH", (await SendAsync(port, "PING"))[0], StringComparison.Ordinal);
        Assert.StartsWith("-WRONGPASS", (await SendAsync(port, "AUTH not-the-password", "PING"))[0], StringComparison.Ordinal);
        Assert.Equal(["+OK", "+PONG"], await SendAsync(port, $"AUTH {password}", "PING"));
    }

    [Fact]
    public async Task Redis_listens_on_loopback_only_with_protected_mode_and_no_password_on_its_command_line()
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{servers.RedisPort},password={servers.RedisPassword},allowAdmin=true");
        var server = redis.GetServer("127.0.0.1", servers.RedisPort);

        Assert.Equal("127.0.0.1", (await server.ConfigGetAsync("bind")).Single().Value);
        Assert.Equal("yes", (await server.ConfigGetAsync("protected-mode")).Single().Value);
        var pid = File.ReadAllText(Path.Combine(servers.RedisDirectory, "redis.pid")).Trim();
        Assert.DoesNotContain(servers.RedisPassword, File.ReadAllText($"/proc/{pid}/cmdline"), StringComparison.Ordinal);
        AssertPrivate(servers.RedisDirectory, "password");
        AssertPrivate(servers.RedisDirectory, "redis.conf");
    }

    [Fact]
    public async Task Postgres_refuses_a_connection_without_the_password_or_with_a_wrong_one_and_accepts_the_right_one()
    {
        var without = new NpgsqlConnectionStringBuilder(ConnectionString()) { Password = null };
        var missing = await Assert.ThrowsAnyAsync<NpgsqlException>(() => OpenAsync(without.ConnectionString));
        Assert.Contains("password", missing.Message, StringComparison.OrdinalIgnoreCase);

        var wrong = new NpgsqlConnectionStringBuilder(ConnectionString()) { Password = "not-the-password" };
        var refused = await Assert.ThrowsAsync<PostgresException>(() => OpenAsync(wrong.ConnectionString));
        Assert.Equal(PostgresErrorCodes.InvalidPassword, refused.SqlState);

        await using var connection = await OpenAsync(ConnectionString());
        await using var command = new NpgsqlCommand("SELECT count(*) FROM pg_hba_file_rules WHERE auth_method <> 'scram-sha-256'", connection);
        Assert.Equal(0L, await command.ExecuteScalarAsync()); // no trust line, for TCP nor for the socket
        AssertPrivate(servers.PostgresDirectory, "password");
    }

    [Fact]
    public async Task Postgres_with_ssl_on_is_verified_against_the_scripts_CA_and_refuses_another_CA()
    {
        var verified = new NpgsqlConnectionStringBuilder(ConnectionString()) { SslMode = SslMode.VerifyFull, RootCertificate = Path.Combine(servers.TlsDirectory, "ca.crt") };
        await using (var connection = await OpenAsync(verified.ConnectionString))
        {
            await using var command = new NpgsqlCommand("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", connection);
            Assert.Equal(true, await command.ExecuteScalarAsync());
        }

        var untrusted = new NpgsqlConnectionStringBuilder(verified.ConnectionString) { RootCertificate = Path.Combine(servers.OtherTlsDirectory, "ca.crt") };
        await Assert.ThrowsAnyAsync<Exception>(() => OpenAsync(untrusted.ConnectionString));
    }

    [Fact]
    public async Task Redis_over_TLS_is_reached_with_the_configured_CA_and_refused_with_another()
    {
        var connectionString = $"127.0.0.1:{servers.TlsRedisPort},ssl=true,password={servers.TlsRedisPassword}";
        await using (var redis = await ConnectionMultiplexer.ConnectAsync(Strict(RedisConfiguration.Parse(connectionString, Path.Combine(servers.TlsDirectory, "ca.crt")))))
        {
            Assert.True(await redis.GetDatabase().PingAsync() >= TimeSpan.Zero);
        }

        await Assert.ThrowsAsync<RedisConnectionException>(() =>
            ConnectionMultiplexer.ConnectAsync(Strict(RedisConfiguration.Parse(connectionString, Path.Combine(servers.OtherTlsDirectory, "ca.crt")))));
    }

    private string ConnectionString() => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1",
        Port = servers.PostgresPort,
        Username = "postgres",
        Password = servers.PostgresPassword,
        Database = "postgres",
        Pooling = false,
        Timeout = 10,
    }.ConnectionString;

    /// <summary>Fails the connect at once instead of retrying in the background (as membership does).</summary>
    private static ConfigurationOptions Strict(ConfigurationOptions options)
    {
        options.AbortOnConnectFail = true;
        options.ConnectRetry = 0;
        options.ConnectTimeout = 5000;
        return options;
    }

    private static async Task<NpgsqlConnection> OpenAsync(string connectionString)
    {
        var connection = new NpgsqlConnection(connectionString);
        try
        {
            await connection.OpenAsync();
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    private static void AssertPrivate(string directory, string file)
    {
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(directory, file)));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(directory));
    }

    /// <summary>Sends inline commands on one connection and returns one reply line per command.</summary>
    private static async Task<string[]> SendAsync(int port, params string[] commands)
    {
        using var client = new TcpClient();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await client.ConnectAsync("127.0.0.1", port, timeout.Token);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(string.Concat(commands.Select(c => c + "\r\n"))), timeout.Token);
        using var reader = new StreamReader(stream, Encoding.ASCII);
        var replies = new string[commands.Length];
        for (var i = 0; i < replies.Length; i++)
        {
            replies[i] = await reader.ReadLineAsync(timeout.Token) ?? "(connection closed)";
        }

        return replies;
    }
}

/// <summary>
/// Through scripts/lib/servers.sh: a PostgreSQL with ssl=on and a plaintext Redis, then a TLS-only
/// Redis, all with their generated passwords; certificates from its make_server_certificates.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class ScriptServersFixture : IAsyncLifetime
{
    private static readonly TimeSpan ScriptTimeout = TimeSpan.FromSeconds(120);
    private readonly string _root = CreateRoot();

    /// <summary>Port of the plaintext Redis.</summary>
    public int RedisPort { get; } = FreePort.Next();

    /// <summary>Port of the TLS-only Redis.</summary>
    public int TlsRedisPort { get; } = FreePort.Next();

    /// <summary>Port of PostgreSQL.</summary>
    public int PostgresPort { get; } = FreePort.Next();

    /// <summary>The plaintext Redis's directory.</summary>
    public string RedisDirectory => Path.Combine(_root, "redis");

    /// <summary>PostgreSQL's directory.</summary>
    public string PostgresDirectory => Path.Combine(_root, "pg");

    /// <summary>The CA and server certificate both servers use.</summary>
    public string TlsDirectory => Path.Combine(_root, "tls");

    /// <summary>A CA that signed neither server's certificate.</summary>
    public string OtherTlsDirectory => Path.Combine(_root, "other-tls");

    /// <summary>The plaintext Redis's generated password.</summary>
    public string RedisPassword => File.ReadAllText(Path.Combine(RedisDirectory, "password"));

    /// <summary>The TLS Redis's generated password.</summary>
    public string TlsRedisPassword => File.ReadAllText(Path.Combine(_root, "redis-tls", "password"));

    /// <summary>PostgreSQL's generated password.</summary>
    public string PostgresPassword => File.ReadAllText(Path.Combine(PostgresDirectory, "password"));

    /// <inheritdoc/>
    public Task InitializeAsync() => RunAsync(string.Create(
        CultureInfo.InvariantCulture,
        $"""
        make_server_certificates '{TlsDirectory}' && make_server_certificates '{OtherTlsDirectory}' &&
        start_redis '{RedisDirectory}' {RedisPort} &&
        SERVERS_TLS_DIR='{TlsDirectory}' start_postgres '{PostgresDirectory}' {PostgresPort} &&
        SERVERS_TLS_DIR='{TlsDirectory}' start_redis '{_root}/redis-tls' {TlsRedisPort}
        """));

    /// <inheritdoc/>
    public async Task DisposeAsync()
    {
        try
        {
            await RunAsync($"stop_redis '{RedisDirectory}'; stop_redis '{_root}/redis-tls'; stop_postgres '{PostgresDirectory}'");
        }
        finally
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    private static string CreateRoot()
    {
        var root = Directory.CreateTempSubdirectory("granary-script-servers-").FullName;

        // Run as root, the script hands the PostgreSQL directory to the postgres user, who must reach it.
        File.SetUnixFileMode(root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        return root;
    }

    private async Task RunAsync(string script)
    {
        var library = Path.Combine(RepositoryPaths.Root, "scripts", "lib", "servers.sh");
        var result = await ChildProcess.RunAsync("bash", ["-c", $"source '{library}' && {script}"], ScriptTimeout, CancellationToken.None, environment: new Dictionary<string, string> { ["PG_FSYNC"] = "off" });
        Assert.True(result.ExitCode == 0, $"{script} exited with code {result.ExitCode}: {result.Output}");
    }
}
