"""Claims per second of the payment readers, against the 837 reader on the same claims.

Builds, in memory, N two-line professional claims as an 837P (the baseline: the
reader the project already had), the 835 that pays them (one CLP, two SVC with
CAS, REF*6R and AMT*B6 each) and the RIF carrier extract of the same claims
(two rows each), then times read_x12, read_835, read_rif and read_paid_claims
(837 + 835 files: read, link, line matching). Prints claims/s, the ratio to the
837 read, and the peak RSS of the process.

    .venv/bin/python benchmarks/bench_payments.py [--claims N] [--repeat R]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from claimscrub.inputs.payments import read_paid_claims  # noqa: E402
from claimscrub.inputs.rif import read_rif  # noqa: E402
from claimscrub.inputs.x12 import read_x12  # noqa: E402
from claimscrub.inputs.x835 import read_835  # noqa: E402

ISA = "ISA*00*          *00*          *ZZ*BENCHSENDER    *ZZ*BENCHRECEIVER  *240604*1200*^*00501*000000001*0*T*:~\n"


def envelope(group: str, version: str, st: str, body: list[str]) -> bytes:
    segments = [f"ST*{st}*0001*{version}", *body]
    segments.append(f"SE*{len(segments) + 1}*0001")
    text = ISA + f"GS*{group}*S*R*20240604*1200*1*X*{version}~\n" + "".join(s + "~\n" for s in segments)
    return (text + "GE*1*1~\nIEA*1*000000001~\n").encode()


def claims_837(n: int) -> bytes:
    body = [
        "BHT*0019*00*B1*20240604*1200*CH",
        "NM1*41*2*BENCH*****46*S",
        "NM1*40*2*PAYER*****46*R",
        "HL*1**20*1",
        "NM1*85*2*BENCH PRACTICE*****XX*1234567893",
        "HL*2*1*22*0",
        "SBR*P*18*******MB",
        "NM1*IL*1*PATIENT*BENCH****MI*MEMBER1",
        "DMG*D8*19500101*F",
        "NM1*PR*2*PAYER*****PI*00952",
    ]
    for i in range(n):
        body += [
            f"CLM*C{i}*335.00***11:B:1*Y*A*Y*Y",
            "HI*ABK:M1711*ABF:I10",
            "LX*1",
            "SV1*HC:99213:25*125.00*UN*1*11**1:2",
            "DTP*472*D8*20240514",
            "REF*6R*1",
            "LX*2",
            "SV1*HC:20610:RT*210.00*UN*1*11**1",
            "DTP*472*D8*20240514",
            "REF*6R*2",
        ]
    return envelope("HC", "005010X222A1", "837", body)


def remittance_835(n: int) -> bytes:
    body = [
        "BPR*I*1000*C*ACH*CCP*01*1*DA*1*1**01*1*DA*1*20240604",
        "TRN*1*EFT1*1",
        "N1*PR*PAYER",
        "N1*PE*BENCH PRACTICE*XX*1234567893",
        "LX*1",
    ]
    for i in range(n):
        body += [
            f"CLP*C{i}*1*335*223.72*55.92*MB*ICN{i}*11*1",
            "SVC*HC:99213:25*125*72.18**1",
            "DTM*472*20240514",
            "CAS*CO*45*34.78",
            "CAS*PR*2*18.04",
            "REF*6R*1",
            "AMT*B6*90.22",
            "SVC*HC:20610:RT*210*151.54**1",
            "DTM*472*20240514",
            "CAS*CO*45*20.58*PR*1*10.00**2*27.88",
            "REF*6R*2",
            "AMT*B6*189.42",
        ]
    return envelope("HP", "005010X221A1", "835", body)


def rif_carrier(n: int) -> bytes:
    header = (
        "CLM_ID|BENE_ID|CLM_FROM_DT|CLM_THRU_DT|NCH_WKLY_PROC_DT|CARR_NUM|CLM_PMT_AMT|NCH_CARR_CLM_ALOWD_AMT|"
        "PRNCPAL_DGNS_CD|ICD_DGNS_CD1|CARR_CLM_BLG_NPI_NUM|LINE_NUM|PRF_PHYSN_NPI|LINE_SRVC_CNT|"
        "LINE_PLACE_OF_SRVC_CD|LINE_1ST_EXPNS_DT|LINE_LAST_EXPNS_DT|HCPCS_CD|HCPCS_1ST_MDFR_CD|"
        "LINE_NCH_PMT_AMT|LINE_BENE_PTB_DDCTBL_AMT|LINE_COINSRNC_AMT|LINE_SBMTD_CHRG_AMT|LINE_ALOWD_CHRG_AMT|"
        "LINE_ICD_DGNS_CD"
    )
    rows = [header]
    for i in range(n):
        claim = f"C{i}|B{i % 1000}|14-May-2024|14-May-2024|24-May-2024|00952|223.72|279.64|M1711|I10|1234567893"
        rows.append(f"{claim}|1|1234567893|1|11|14-May-2024|14-May-2024|99213|25|72.18|0|18.04|125.00|90.22|M1711")
        rows.append(f"{claim}|2|1234567893|1|11|14-May-2024|14-May-2024|20610|RT|151.54|10.00|27.88|210.00|189.42|I10")
    return ("\n".join(rows) + "\n").encode()


def best(fn: Callable[[], int], repeat: int) -> tuple[float, int]:
    times, count = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        count = fn()
        times.append(time.perf_counter() - start)
    return min(times), count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n = args.claims
    x837, x835, rif = claims_837(n), remittance_835(n), rif_carrier(n)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "claims.837").write_bytes(x837)
        (Path(tmp) / "era.835").write_bytes(x835)
        runs = {
            "read_x12 (837, baseline)": lambda: sum(1 for i in read_x12(x837, "b") if i.data is not None),
            "read_835": lambda: sum(1 for r in read_835(x835, "b") if r.data is not None),
            "read_rif (carrier)": lambda: sum(1 for i in read_rif(rif, "b") if i.data is not None),
            "read_paid_claims (837+835, linked)": lambda: sum(
                1 for i in read_paid_claims([Path(tmp)]).items if i.data and "paid_amount" in i.data
            ),
        }
        results = {name: best(fn, args.repeat) for name, fn in runs.items()}
    base = results["read_x12 (837, baseline)"][0]
    print(f"{n} two-line claims, best of {args.repeat}")
    for name, (seconds, count) in results.items():
        assert count == n, (name, count)
        print(f"  {name:38s} {seconds:7.3f} s  {n / seconds:10,.0f} claims/s  x{seconds / base:.2f} of the 837 read")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak RSS {peak:,.0f} MB")


if __name__ == "__main__":
    main()
