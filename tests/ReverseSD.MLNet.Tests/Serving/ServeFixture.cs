using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Hosting;
using ReverseSD.MLNet.Data;
using ReverseSD.Serving;

namespace ReverseSD.MLNet.Tests.Serving;

/// <summary>The tiny trained model of the CLI tests, loaded once into a scoring service, and the in-process server over it.</summary>
public sealed class ServeFixture : IDisposable
{
    public ServeFixture()
    {
        Tiny = new TinyTrainedModel();
        Options = new ServeOptions { ModelPath = Tiny.Model, MaxConcurrency = 2 };
        Scoring = new PromptScoringService(Options);
        Factory = new ServeFactory(Options, Scoring);
    }

    public TinyTrainedModel Tiny { get; }

    public ServeOptions Options { get; }

    public PromptScoringService Scoring { get; }

    internal ServeFactory Factory { get; }

    /// <summary>The tiny benchmark's test images (PNG, 64 px).</summary>
    public IReadOnlyList<string> Images => Directory.EnumerateFiles(Path.Combine(Tiny.Data, "test"), "*.png").Order(StringComparer.Ordinal).ToList();

    public void Dispose()
    {
        Factory.Dispose();
        Scoring.Dispose();
        Tiny.Dispose();
    }

    /// <summary>
    /// A complete, valid 1-bit greyscale PNG whose header declares <paramref name="width"/> × <paramref name="height"/>
    /// pixels: all-zero rows compress to a few tens of KB, decoding them would take 4 bytes per pixel.
    /// </summary>
    public static byte[] BombPng(int width = 20000, int height = 20000)
    {
        using var png = new MemoryStream();
        png.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var header = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(header, (uint)width);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), (uint)height);
        header[8] = 1; // bit depth 1
        header[9] = 0; // greyscale
        Chunk(png, "IHDR", header);
        using (var idat = new MemoryStream())
        {
            using (var z = new ZLibStream(idat, CompressionLevel.SmallestSize, leaveOpen: true))
            {
                var row = new byte[1 + (width + 7) / 8]; // filter byte 0 + packed bits
                for (int y = 0; y < height; y++) z.Write(row);
            }
            Chunk(png, "IDAT", idat.ToArray());
        }
        Chunk(png, "IEND", []);
        return png.ToArray();
    }

    private static void Chunk(Stream png, string type, byte[] data)
    {
        var buffer = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(buffer, (uint)data.Length);
        png.Write(buffer);
        var typeAndData = Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        png.Write(typeAndData);
        BinaryPrimitives.WriteUInt32BigEndian(buffer, ImageValidation.Crc32(typeAndData));
        png.Write(buffer);
    }
}

/// <summary>
/// The server in process (Microsoft.AspNetCore.Mvc.Testing): the same services and pipeline <c>reversesd serve</c> builds,
/// on a generic host so the factory can swap in its test server.
/// </summary>
internal sealed class ServeFactory(ServeOptions options, PromptScoringService scoring) : WebApplicationFactory<Program>
{
    protected override IHostBuilder CreateHostBuilder() => Host.CreateDefaultBuilder()
        .ConfigureWebHostDefaults(web => web
            .ConfigureServices(services => ReverseSdServer.AddServices(services, options, scoring))
            .Configure(app => ReverseSdServer.Configure(app)));
}

[CollectionDefinition(Name)]
public sealed class ServeCollection : ICollectionFixture<ServeFixture>
{
    public const string Name = "serve";
}
