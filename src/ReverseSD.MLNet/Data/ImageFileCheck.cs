using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace ReverseSD.MLNet.Data;

/// <summary>What a structural check of an image file found: whether it is whole, its size, and PNG text chunks.</summary>
/// <param name="IsValid">False when the file is truncated or corrupt (bad signature, chunk past the end, CRC mismatch, no end marker).</param>
/// <param name="Problem">Why the file is not valid, or null.</param>
/// <param name="Width">Width in pixels when the header says so (PNG IHDR, JPEG SOF, WebP), else 0; also set on a truncated file whose header was read.</param>
/// <param name="Height">Height in pixels when the header says so, else 0.</param>
/// <param name="Text">PNG tEXt/iTXt/zTXt key/value pairs (DiffusionDB 2M PNGs carry "prompt" and "seed").</param>
internal sealed record ImageCheck(bool IsValid, string? Problem, int Width, int Height, IReadOnlyDictionary<string, string> Text);

/// <summary>
/// Checks that an image file is whole without decoding its pixels: PNG chunk lengths, CRCs and IEND; WebP RIFF size;
/// JPEG start and end markers; BMP file size; GIF trailer. Reads the PNG text chunks on the way (parsed here, no image library needed).
/// </summary>
internal static class ImageFileCheck
{
    private static readonly byte[] PngSignature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];
    private static readonly Dictionary<string, string> NoText = [];
    private static readonly uint[] CrcTable = BuildCrcTable();

    /// <summary>Checks the bytes of an image; the format comes from its signature, not its name.</summary>
    public static ImageCheck Check(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length >= 8 && bytes[..8].SequenceEqual(PngSignature)) return CheckPng(bytes);
        if (bytes.Length >= 12 && bytes[..4].SequenceEqual("RIFF"u8) && bytes.Slice(8, 4).SequenceEqual("WEBP"u8)) return CheckWebP(bytes);
        if (bytes.Length >= 4 && bytes[0] == 0xFF && bytes[1] == 0xD8) return CheckJpeg(bytes);
        if (bytes.Length >= 26 && bytes[..2].SequenceEqual("BM"u8)) return CheckBmp(bytes);
        if (bytes.Length >= 13 && (bytes[..6].SequenceEqual("GIF87a"u8) || bytes[..6].SequenceEqual("GIF89a"u8))) return CheckGif(bytes);
        return Bad(bytes.Length == 0 ? "empty file" : "not a PNG, WebP, JPEG, BMP or GIF file");
    }

    /// <summary>Reads a whole stream and checks it.</summary>
    public static ImageCheck Check(Stream stream)
    {
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return Check(buffer.GetBuffer().AsSpan(0, (int)buffer.Length));
    }

    private static ImageCheck CheckPng(ReadOnlySpan<byte> b)
    {
        int pos = 8, width = 0, height = 0;
        var text = new Dictionary<string, string>(StringComparer.Ordinal);
        while (true)
        {
            if (pos + 12 > b.Length) return Bad("truncated PNG (no IEND chunk)", width, height);
            uint length = BinaryPrimitives.ReadUInt32BigEndian(b[pos..]);
            if (length > int.MaxValue || pos + 12 + (long)length > b.Length) return Bad("truncated PNG (chunk runs past the end of the file)", width, height);
            var typeAndData = b.Slice(pos + 4, 4 + (int)length);
            uint crc = BinaryPrimitives.ReadUInt32BigEndian(b[(pos + 8 + (int)length)..]);
            if (Crc32(typeAndData) != crc) return Bad("corrupt PNG (chunk CRC mismatch)", width, height);
            string type = Encoding.ASCII.GetString(typeAndData[..4]);
            var data = typeAndData[4..];
            switch (type)
            {
                case "IHDR" when data.Length >= 8:
                    width = (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(data), int.MaxValue);
                    height = (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(data[4..]), int.MaxValue);
                    break;
                case "tEXt":
                    ReadText(data, text, compressed: false, international: false);
                    break;
                case "zTXt":
                    ReadText(data, text, compressed: true, international: false);
                    break;
                case "iTXt":
                    ReadText(data, text, compressed: false, international: true);
                    break;
                case "IEND":
                    return new ImageCheck(true, null, width, height, text);
            }
            pos += 12 + (int)length;
        }
    }

    private static void ReadText(ReadOnlySpan<byte> data, Dictionary<string, string> text, bool compressed, bool international)
    {
        int zero = data.IndexOf((byte)0);
        if (zero <= 0) return;
        string key = Encoding.Latin1.GetString(data[..zero]);
        var rest = data[(zero + 1)..];
        try
        {
            if (international)
            {
                // iTXt: compression flag, method, language tag\0, translated keyword\0, UTF-8 text.
                if (rest.Length < 2) return;
                bool isCompressed = rest[0] == 1;
                rest = rest[2..];
                for (int skip = 0; skip < 2; skip++)
                {
                    int z = rest.IndexOf((byte)0);
                    if (z < 0) return;
                    rest = rest[(z + 1)..];
                }
                text.TryAdd(key, Encoding.UTF8.GetString(isCompressed ? Inflate(rest) : rest));
            }
            else if (compressed)
            {
                if (rest.Length < 1) return;
                text.TryAdd(key, DecodeLatin1OrUtf8(Inflate(rest[1..])));
            }
            else text.TryAdd(key, DecodeLatin1OrUtf8(rest));
        }
        catch (InvalidDataException)
        {
            // A broken compressed text chunk loses that text only; the CRC already vouched for the bytes.
        }
    }

    /// <summary>tEXt is Latin-1 by the PNG standard, but some writers store UTF-8; valid UTF-8 wins.</summary>
    private static string DecodeLatin1OrUtf8(ReadOnlySpan<byte> bytes)
    {
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            return Encoding.Latin1.GetString(bytes);
        }
    }

    private static byte[] Inflate(ReadOnlySpan<byte> zlib)
    {
        using var input = new MemoryStream(zlib.ToArray());
        using var z = new ZLibStream(input, CompressionMode.Decompress);
        using var output = new MemoryStream();
        z.CopyTo(output);
        return output.ToArray();
    }

    private static ImageCheck CheckWebP(ReadOnlySpan<byte> b)
    {
        long riffSize = BinaryPrimitives.ReadUInt32LittleEndian(b[4..]);
        if (riffSize + 8 > b.Length) return Bad("truncated WebP (RIFF size larger than the file)");
        if (b.Length < 16 || !(b.Slice(12, 3).SequenceEqual("VP8"u8))) return Bad("corrupt WebP (no VP8 chunk)");
        int width = 0, height = 0;
        var chunk = b.Slice(12, 4);
        if (chunk.SequenceEqual("VP8L"u8) && b.Length >= 25 && b[20] == 0x2F)
        {
            uint bits = BinaryPrimitives.ReadUInt32LittleEndian(b[21..]);
            width = (int)(bits & 0x3FFF) + 1;
            height = (int)((bits >> 14) & 0x3FFF) + 1;
        }
        else if (chunk.SequenceEqual("VP8X"u8) && b.Length >= 30)
        {
            width = 1 + (b[24] | b[25] << 8 | b[26] << 16);
            height = 1 + (b[27] | b[28] << 8 | b[29] << 16);
        }
        else if (chunk.SequenceEqual("VP8 "u8) && b.Length >= 30)
        {
            width = BinaryPrimitives.ReadUInt16LittleEndian(b[26..]) & 0x3FFF;
            height = BinaryPrimitives.ReadUInt16LittleEndian(b[28..]) & 0x3FFF;
        }
        return new ImageCheck(true, null, width, height, NoText);
    }

    private static ImageCheck CheckJpeg(ReadOnlySpan<byte> b)
    {
        var (width, height) = JpegFrameSize(b);
        // The end-of-image marker may be followed by padding; look for it near the end.
        var tail = b[Math.Max(2, b.Length - 64)..];
        for (int i = tail.Length - 2; i >= 0; i--)
            if (tail[i] == 0xFF && tail[i + 1] == 0xD9) return new ImageCheck(true, null, width, height, NoText);
        return new ImageCheck(false, "truncated JPEG (no end-of-image marker)", width, height, NoText);
    }

    /// <summary>Width and height from the JPEG start-of-frame (SOFn) segment, walking the marker segments before the scan; (0, 0) when absent.</summary>
    private static (int Width, int Height) JpegFrameSize(ReadOnlySpan<byte> b)
    {
        int pos = 2;
        while (pos + 4 <= b.Length)
        {
            if (b[pos] != 0xFF) return (0, 0);
            byte marker = b[pos + 1];
            if (marker == 0xFF) { pos++; continue; } // fill byte
            if (marker is 0x01 or (>= 0xD0 and <= 0xD7)) { pos += 2; continue; } // markers without a length
            if (marker is 0xD9 or 0xDA) return (0, 0); // end of image or start of scan before any frame header
            int length = BinaryPrimitives.ReadUInt16BigEndian(b[(pos + 2)..]);
            bool startOfFrame = marker is >= 0xC0 and <= 0xCF and not (0xC4 or 0xC8 or 0xCC);
            if (startOfFrame)
            {
                if (pos + 9 > b.Length) return (0, 0);
                return (BinaryPrimitives.ReadUInt16BigEndian(b[(pos + 7)..]), BinaryPrimitives.ReadUInt16BigEndian(b[(pos + 5)..]));
            }
            pos += 2 + length;
        }
        return (0, 0);
    }


    private static ImageCheck CheckBmp(ReadOnlySpan<byte> b)
    {
        // The file header states the file size; the info header the width and (signed, bottom-up when positive) height.
        long size = BinaryPrimitives.ReadUInt32LittleEndian(b[2..]);
        if (size > b.Length) return Bad("truncated BMP (file size in the header larger than the file)");
        int width = BinaryPrimitives.ReadInt32LittleEndian(b[18..]);
        int height = Math.Abs(BinaryPrimitives.ReadInt32LittleEndian(b[22..]));
        return new ImageCheck(true, null, width, height, NoText);
    }

    private static ImageCheck CheckGif(ReadOnlySpan<byte> b)
    {
        // The logical screen size follows the signature; a whole GIF ends with the trailer byte 0x3B.
        if (b[^1] != 0x3B) return Bad("truncated GIF (no trailer)");
        return new ImageCheck(true, null, BinaryPrimitives.ReadUInt16LittleEndian(b[6..]), BinaryPrimitives.ReadUInt16LittleEndian(b[8..]), NoText);
    }

    private static ImageCheck Bad(string problem, int width = 0, int height = 0) => new(false, problem, width, height, NoText);

    /// <summary>The PNG chunk CRC-32 (ISO 3309) of <paramref name="data"/>.</summary>
    internal static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFF;
        foreach (byte x in data) c = CrcTable[(c ^ x) & 0xFF] ^ (c >> 8);
        return c ^ 0xFFFFFFFF;
    }

    private static uint[] BuildCrcTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
            table[n] = c;
        }
        return table;
    }
}
