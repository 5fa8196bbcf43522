using System.Globalization;
using Parquet;
using Parquet.Schema;

namespace ReverseSD.MLNet.Data;

/// <summary>
/// Writes a generated metadata.parquet with DiffusionDB's column types (image_name, prompt, part_id, seed, step, cfg,
/// sampler, width, height) row group by row group, for measuring and testing the reader at DiffusionDB's scale. Prompts
/// come from the filter benchmark's generator (repeats, edited prefixes and suffixes, non-English, NaN); every 500th row
/// repeats the previous image name. Same arguments, same file content.
/// </summary>
internal static class DiffusionDbMetadataSample
{
    public static void Write(string path, int rows, int rowGroupSize, int seed, CancellationToken cancellationToken = default)
    {
        var fields = new DataField[]
        {
            new DataField<string>("image_name"), new DataField<string>("prompt"), new DataField<ushort>("part_id"), new DataField<uint>("seed"),
            new DataField<ushort>("step"), new DataField<float>("cfg"), new DataField<byte>("sampler"), new DataField<ushort>("width"),
            new DataField<ushort>("height"),
        };
        var rng = new Random(seed);
        AtomicFile.Write(path, stream => Task.Run(async () =>
        {
            await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(fields), stream, cancellationToken: cancellationToken);
            for (int start = 0, g = 0; start < rows; start += rowGroupSize, g++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int n = Math.Min(rowGroupSize, rows - start);
                var prompts = FilterBenchmarkPrompts.Generate(n, unchecked(seed * 7919 + g)).ToArray();
                var names = new string[n];
                for (int i = 0; i < n; i++)
                    names[i] = (start + i) % 500 == 499 && i > 0
                        ? names[i - 1]
                        : string.Create(CultureInfo.InvariantCulture, $"{rng.Next():x8}-{start + i:D9}.png");
                using var group = writer.CreateRowGroup();
                await group.WriteAsync(fields[0], names, null);
                await group.WriteAsync(fields[1], prompts, null);
                await group.WriteAsync<ushort>(fields[2], Enumerable.Range(start, n).Select(i => (ushort)(1 + i / 1000)).ToArray().AsMemory());
                await group.WriteAsync<uint>(fields[3], Enumerable.Range(0, n).Select(_ => (uint)rng.NextInt64(uint.MaxValue)).ToArray().AsMemory());
                await group.WriteAsync<ushort>(fields[4], Enumerable.Range(0, n).Select(_ => (ushort)50).ToArray().AsMemory());
                await group.WriteAsync<float>(fields[5], Enumerable.Range(0, n).Select(_ => (float)(1 + rng.Next(20))).ToArray().AsMemory());
                await group.WriteAsync<byte>(fields[6], Enumerable.Range(0, n).Select(_ => (byte)(1 + rng.Next(9))).ToArray().AsMemory());
                await group.WriteAsync<ushort>(fields[7], Enumerable.Range(0, n).Select(_ => (ushort)512).ToArray().AsMemory());
                await group.WriteAsync<ushort>(fields[8], Enumerable.Range(0, n).Select(_ => (ushort)512).ToArray().AsMemory());
            }
        }, cancellationToken).GetAwaiter().GetResult());
    }
}
