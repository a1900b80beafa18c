"""Frames that repeat the picture before them, written as H.264 directly: P slices whose
every macroblock is skipped.

x264 spends the same few milliseconds analysing a 1080×1920 frame whether or not anything
moved, so a 30-second teaser of a dozen pictures cost it 900 analyses. Instead x264 codes
each distinct picture once (as an IDR frame) and the frames that hold it are written here:
a slice header and one ``mb_skip_run`` covering the whole picture, a few bytes each, which
any decoder shows as an exact copy of the frame before. The stream stays constant 30 fps.

The header must agree with x264's SPS and PPS, so both are read from the encoder's
extradata (``stream_params``), and only what this writes is supported: CAVLC (x264's
``cabac=0``), progressive frames, picture order type 0 or 2, flat scaling lists, no
weighted prediction; anything else raises rather than write a stream a decoder would refuse.
"""

from __future__ import annotations

from dataclasses import dataclass

START_CODE = b"\x00\x00\x00\x01"
HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


class _Bits:
    """Reads an RBSP bit by bit: fixed-width and Exp-Golomb fields."""

    def __init__(self, data: bytes):
        self.data, self.at = data, 0

    def u(self, n: int) -> int:
        value = 0
        for _ in range(n):
            value = (value << 1) | ((self.data[self.at // 8] >> (7 - self.at % 8)) & 1)
            self.at += 1
        return value

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k % 2 else -(k // 2)


class _Writer:
    def __init__(self) -> None:
        self.bits: list[int] = []

    def u(self, n: int, value: int) -> None:
        self.bits.extend((value >> (n - 1 - i)) & 1 for i in range(n))

    def ue(self, value: int) -> None:
        code = value + 1
        self.u(code.bit_length() - 1, 0)
        self.u(code.bit_length(), code)

    def se(self, value: int) -> None:
        self.ue(2 * value - 1 if value > 0 else -2 * value)

    def rbsp(self) -> bytes:
        bits = [*self.bits, 1]  # rbsp_stop_one_bit, then zeros to the byte
        bits += [0] * (-len(bits) % 8)
        return bytes(int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits), 8))


def _unescape(nal: bytes) -> bytes:
    """A NAL unit's payload without its emulation prevention bytes (00 00 03 → 00 00)."""
    return nal.replace(b"\x00\x00\x03", b"\x00\x00")


def _escape(rbsp: bytes) -> bytes:
    out, zeros = bytearray(), 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def _nal_units(extradata: bytes) -> list[bytes]:
    """The NAL units of Annex B extradata (start codes) or of an avcC box."""
    if extradata[:1] == b"\x01":  # avcC: SPS and PPS with 16-bit lengths
        units, at = [], 6
        for count in (extradata[5] & 0x1F, None):
            if count is None:  # the PPS count follows the SPSs
                count, at = extradata[at], at + 1
            for _ in range(count):
                size = int.from_bytes(extradata[at : at + 2], "big")
                units.append(extradata[at + 2 : at + 2 + size])
                at += 2 + size
        return units
    return [
        unit.lstrip(b"\x00")
        for unit in extradata.replace(START_CODE, b"\x00\x00\x01").split(b"\x00\x00\x01")
        if unit.strip(b"\x00")
    ]


@dataclass(frozen=True)
class StreamParams:
    log2_max_frame_num: int
    poc_type: int
    log2_max_poc_lsb: int
    macroblocks: int
    bottom_field_poc: bool
    redundant_pic_cnt: bool
    deblocking_control: bool


def stream_params(extradata: bytes) -> StreamParams:
    """What a slice header must agree with, from x264's SPS and PPS."""
    units = {unit[0] & 0x1F: _unescape(unit[1:]) for unit in _nal_units(extradata)}
    sps, pps = _Bits(units[7]), _Bits(units[8])
    profile = sps.u(8)
    sps.u(16)  # constraint flags, level
    sps.ue()  # seq_parameter_set_id
    if profile in HIGH_PROFILES:
        if sps.ue() == 3:  # chroma_format_idc
            sps.u(1)
        sps.ue(), sps.ue(), sps.u(1)  # bit depths, qpprime_y_zero_transform_bypass
        if sps.u(1):
            raise ValueError("the encoder wrote scaling lists; skipped frames do not support them")
    log2_max_frame_num = sps.ue() + 4
    poc_type = sps.ue()
    log2_max_poc_lsb = sps.ue() + 4 if poc_type == 0 else 0
    if poc_type == 1:
        raise ValueError("picture order count type 1 is not supported")
    sps.ue(), sps.u(1)  # max_num_ref_frames, gaps_in_frame_num_value_allowed_flag
    width, height = sps.ue() + 1, sps.ue() + 1
    if not sps.u(1):
        raise ValueError("interlaced streams are not supported")
    pps.ue(), pps.ue()  # pic_parameter_set_id, seq_parameter_set_id
    if pps.u(1):
        raise ValueError("skipped frames are written in CAVLC: encode with x264's cabac=0")
    bottom_field_poc = bool(pps.u(1))
    if pps.ue():
        raise ValueError("slice groups are not supported")
    pps.ue(), pps.ue()  # num_ref_idx_l0/l1_default_active_minus1
    if pps.u(1):
        raise ValueError("weighted prediction is not supported: encode with weightp=0")
    pps.u(2), pps.se(), pps.se(), pps.se()  # weighted_bipred_idc, pic_init_qp/qs, chroma_qp_index_offset
    deblocking_control = bool(pps.u(1))
    pps.u(1)  # constrained_intra_pred_flag
    redundant_pic_cnt = bool(pps.u(1))
    return StreamParams(
        log2_max_frame_num=log2_max_frame_num,
        poc_type=poc_type,
        log2_max_poc_lsb=log2_max_poc_lsb,
        macroblocks=width * height,
        bottom_field_poc=bottom_field_poc,
        redundant_pic_cnt=redundant_pic_cnt,
        deblocking_control=deblocking_control,
    )


def skip_frame(params: StreamParams, *, since_idr: int) -> bytes:
    """The Annex B NAL unit of a reference P frame, ``since_idr`` frames after the last IDR
    frame, every macroblock skipped: a copy of the frame before it."""
    bits = _Writer()
    bits.ue(0)  # first_mb_in_slice
    bits.ue(5)  # slice_type: P, as every slice of the picture
    bits.ue(0)  # pic_parameter_set_id
    bits.u(params.log2_max_frame_num, since_idr % (1 << params.log2_max_frame_num))
    if params.poc_type == 0:
        bits.u(params.log2_max_poc_lsb, (2 * since_idr) % (1 << params.log2_max_poc_lsb))
        if params.bottom_field_poc:
            bits.se(0)
    if params.redundant_pic_cnt:
        bits.ue(0)
    bits.u(1, 1)  # num_ref_idx_active_override_flag: one reference, the frame before
    bits.ue(0)
    bits.u(1, 0)  # ref_pic_list_modification_flag_l0
    bits.u(1, 0)  # adaptive_ref_pic_marking_mode_flag: the sliding window
    bits.se(0)  # slice_qp_delta
    if params.deblocking_control:
        bits.ue(1)  # disable_deblocking_filter_idc: nothing to filter in a copy
    bits.ue(params.macroblocks)  # mb_skip_run: the whole picture
    nal_header = bytes([0x40 | 1])  # nal_ref_idc 2, nal_unit_type 1 (a non-IDR slice)
    return START_CODE + nal_header + _escape(bits.rbsp())
