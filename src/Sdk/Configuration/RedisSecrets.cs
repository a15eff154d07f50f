using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Granary.Client.Configuration;

/// <summary>
/// The Redis credentials of <see cref="ServerSecretsOptions"/> (<c>Granary:Security:Servers</c>) that a
/// client needs for gateway discovery: the user and password (given directly, by an environment
/// variable such as <c>Granary__Security__Servers__RedisPassword</c>, or as a private file) filled
/// into the Redis connection string that carries none, and the CA that issued the server's certificate.
/// </summary>
public static class RedisSecrets
{
    /// <summary>The configuration key of the cluster's Redis connection string.</summary>
    internal const string RedisKey = GranaryClusterOptions.SectionName + ":" + nameof(GranaryClusterOptions.RedisConnectionString);

    /// <summary>
    /// <paramref name="connectionString"/> (a StackExchange.Redis configuration string) with <paramref name="user"/>
    /// and <paramref name="password"/> where it names no user or password of its own (what it names wins).
    /// </summary>
    public static string WithRedisCredentials(string connectionString, string? user, string? password)
    {
        var options = ConfigurationOptions.Parse(connectionString);
        var changed = false;
        if (string.IsNullOrEmpty(options.User) && user is not null)
        {
            options.User = user;
            changed = true;
        }

        if (string.IsNullOrEmpty(options.Password) && password is not null)
        {
            options.Password = password;
            changed = true;
        }

        return changed ? options.ToString(includePassword: true) : connectionString;
    }

    /// <summary>
    /// A Redis connection string given outside <c>Granary:Cluster</c> (a benchmark's peer) with the
    /// configured Redis credentials, as the cluster's own connection string gets them.
    /// </summary>
    public static string RedisWithCredentials(string connectionString, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var options = Read(configuration);
        var errors = new List<string>();
        var password = Resolve(nameof(options.RedisPassword), options.RedisPassword, options.RedisPasswordFile, errors);
        if (errors.Count > 0)
        {
            throw new OptionsValidationException(ServerSecretsOptions.SectionName, typeof(ServerSecretsOptions), errors);
        }

        var user = NullIfEmpty(options.RedisUser);
        return password is null && user is null ? connectionString : WithRedisCredentials(connectionString, user, password);
    }

    /// <summary>A Redis connection string fit to print: its password, if any, masked.</summary>
    public static string RedisForDisplay(string connectionString) =>
        ConfigurationOptions.Parse(connectionString).ToString(includePassword: false);

    /// <summary>The configured <see cref="ServerSecretsOptions.RedisCaCertificate"/>, or null.</summary>
    public static string? RedisCaCertificate(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return NullIfEmpty(configuration[ServerSecretsOptions.SectionName + ":" + nameof(ServerSecretsOptions.RedisCaCertificate)]);
    }

    /// <summary>
    /// Null when <paramref name="path"/> is a file that neither group nor others may read, write or
    /// execute; otherwise why not, naming <paramref name="setting"/>.
    /// </summary>
    public static string? CheckPrivateFile(string setting, string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            return $"{setting} names '{path}', which does not exist.";
        }

        if (!OperatingSystem.IsWindows())
        {
            const UnixFileMode Others = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
                | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;
            var mode = File.GetUnixFileMode(path);
            if ((mode & Others) != 0)
            {
                return $"{setting} names '{path}', which group or others may access (mode {Convert.ToString((int)mode, 8)}); it holds secrets: chmod 600 it.";
            }
        }

        return null;
    }

    internal static ServerSecretsOptions Read(IConfiguration configuration)
    {
        var options = new ServerSecretsOptions();
        configuration.GetSection(ServerSecretsOptions.SectionName).Bind(options);
        return options;
    }

    internal static string? Resolve(string name, string? value, string? file, List<string> errors)
    {
        value = NullIfEmpty(value);
        file = NullIfEmpty(file);
        var setting = $"{ServerSecretsOptions.SectionName}:{name}";
        if (value is not null && file is not null)
        {
            errors.Add($"{setting} and {setting}File are both set; set one.");
            return null;
        }

        if (file is null)
        {
            return value;
        }

        var error = CheckPrivateFile(setting + "File", file);
        if (error is not null)
        {
            errors.Add(error);
            return null;
        }

        var secret = File.ReadAllText(file).TrimEnd('\r', '\n');
        if (secret.Length == 0)
        {
            errors.Add($"{setting}File names '{file}', which is empty.");
            return null;
        }

        return secret;
    }

    internal static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
