using Granary.Server;

// A Granary silo: configuration from appsettings.json, .local/cluster.json, GRANARY_CONFIG, GRANARY_SECRETS_FILE,
// environment variables and --Section:Key=value arguments (see README, "Configuration").
return await GranarySiloHost.RunAsync(args);
